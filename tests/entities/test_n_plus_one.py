"""The N+1 guard over every declared relationship: statements per level, not per row,
on the resolver path; one statement on the planner's."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.model import RelationKind
from domain.orders import LineRequest
from domain.principals import Principal
from domain.users import Role
from gateway.container import Container
from gateway.settings import Settings
from persistence.statements import count_statements
from schema.entities import Declaration
from schema.entities.declare import Related
from tests.entities.apps import DECLARED, Api, entity_settings
from tests.entities.samples import camel, seed_rows
from tests.gateway.world import World


def _loaded(declaration: Declaration) -> int:
    """Statements that load a batch of the entity's rows: its rows, and its parts."""
    return 1 + len(declaration.model.parts)


def _relations(declaration: Declaration, depth: int) -> tuple[str, int]:
    """Every relationship of the entity, each followed one level further, and the
    batched statements it should cost: the target's rows for a many-to-one, and their
    counts too for a connection; an aggregate's parts come with it."""
    by_name = {d.name: d for d in DECLARED}
    parts, statements = ["id" if declaration.model.part_of is None else "__typename"], 0
    for name, option in declaration.exposed.items():
        if not isinstance(option, Related):
            continue
        relation = option.relation
        target = by_name[relation.target]
        inner, below = "id" if target.model.part_of is None else "__typename", 0
        if depth > 1:
            inner, below = _relations(target, depth - 1)
        if relation.kind is RelationKind.MANY_TO_ONE:
            parts.append(f"{camel(name)} {{ {inner} }}")
            statements += _loaded(target) + below
        elif relation.kind is RelationKind.PARTS:
            parts.append(f"{camel(name)} {{ {inner} }}")
            statements += below
        else:
            parts.append(f"{camel(name)}(first: 3) {{ totalCount edges {{ node {{ {inner} }} }} }}")
            statements += _loaded(target) + 1 + below
    return " ".join(parts), statements


@pytest.fixture(params=[False, True], ids=["resolvers", "planner"])
def planner(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def settings(tmp_path: Path, planner: bool) -> Settings:
    return entity_settings(f"sqlite+aiosqlite:///{tmp_path / 'entities.db'}", planner=planner)


async def _statements(api: Api, container: Container, query: str, user: int) -> int:
    with count_statements(container.engine) as log:
        answer = await api.ask(query, user=user)
    assert "errors" not in answer, answer
    return log.count


async def test_a_nested_read_costs_the_same_statements_for_any_page_size(
    api: Api, container: Container, world: World, declaration: Declaration, planner: bool
) -> None:
    await seed_rows(container, DECLARED, 24)
    for staff in (world.admin, world.staff):  # every user has orders (with lines)
        roles = frozenset({Role.ADMIN if staff == world.admin else Role.STAFF})
        await container.services.orders.place(
            Principal(staff, roles), [LineRequest(world.widget, 1)]
        )
    plural = camel(declaration.model.plural)
    selection, batched = _relations(declaration, 2)
    small = f"{{ {plural}(first: 2) {{ edges {{ node {{ {selection} }} }} }} }}"
    large = f"{{ {plural}(first: 20) {{ edges {{ node {{ {selection} }} }} }} }}"
    few = await _statements(api, container, small, world.admin)
    many = await _statements(api, container, large, world.admin)
    # The caller's account and the page, then the batched statements of the
    # relationships; the planner builds the whole answer in the page's statement.
    expected = 2 if planner else 1 + _loaded(declaration) + batched
    assert (few, many) == (expected, expected)
