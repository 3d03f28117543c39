"""The N+1 guard over every declared relationship: statements per level, not per row,
on the resolver path; one statement on the planner's."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.model import RelationKind
from gateway.container import Container
from gateway.settings import Settings
from persistence.statements import count_statements
from schema.entities import Declaration
from schema.entities.declare import Related
from tests.entities.apps import DECLARED, Api, entity_settings
from tests.entities.samples import camel, seed_rows
from tests.gateway.world import World


def _relations(declaration: Declaration, depth: int) -> tuple[str, int]:
    """Every relationship of the entity, each followed one level further, and the
    batched statements it should cost: one a many-to-one, two a connection (its pages
    and its counts)."""
    by_name = {d.name: d for d in DECLARED}
    parts, statements = ["id"], 0
    for name, option in declaration.exposed.items():
        if not isinstance(option, Related):
            continue
        relation = option.relation
        target = by_name.get(relation.target)
        inner, below = "id", 0
        if target is not None and depth > 1:
            inner, below = _relations(target, depth - 1)
        if relation.kind is RelationKind.MANY_TO_ONE:
            parts.append(f"{camel(name)} {{ {inner} }}")
            statements += 1 + below
        else:
            parts.append(f"{camel(name)}(first: 3) {{ totalCount edges {{ node {{ {inner} }} }} }}")
            statements += 2 + below
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
    plural = camel(declaration.model.plural)
    selection, batched = _relations(declaration, 2)
    small = f"{{ {plural}(first: 2) {{ edges {{ node {{ {selection} }} }} }} }}"
    large = f"{{ {plural}(first: 20) {{ edges {{ node {{ {selection} }} }} }} }}"
    few = await _statements(api, container, small, world.admin)
    many = await _statements(api, container, large, world.admin)
    # The caller's account and the page, then the batched statements of the
    # relationships; the planner builds the whole answer in the page's statement.
    expected = 2 if planner else 2 + batched
    assert (few, many) == (expected, expected)
