"""The read planner over every declared entity, from its declaration, on both databases.

Two gateways share one seeded database, the planner on and off; the resolver path is
the reference and whole responses must be equal: for generated operations over each
declared entity, for field and object visibility, for an operation mixing planned and
unplanned root fields, which keeps one statement per planned root field.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain.money import Money
from domain.paging import PageRequest
from domain.principals import Principal
from domain.specifications import Always
from domain.users import Email
from gateway.app import create_app
from gateway.container import build_container
from persistence.statements import count_statements
from schema.entities import Declaration
from schema.entities.declare import snake
from schema.node import to_global_id
from tests.entities.apps import DECLARED, entity_settings, open_container
from tests.entities.operations import Operations
from tests.entities.samples import camel, seed_rows
from tests.entities.vendors import DECLARATIONS
from tests.gateway.planner.diff import first_difference
from tests.gateway.planner.examples import both
from tests.gateway.planner.gateways import Gateway, Planned, planned
from tests.gateway.world import World, populate
from tests.helpers import scratch_postgres_database
from tests.services import require_service

__all__ = ["planned"]  # the fixture, used by name

ROWS = 12
# The test-only entity (staff-owned, inactive ones hidden, the email read by admins and
# by each one's manager, a computed `label`) and its one-to-many `contacts`.
ENTITY = DECLARATIONS[0]
PLURAL, SINGLE = camel(ENTITY.model.plural), camel(snake(ENTITY.name))


@dataclass
class Seeded:
    url: str
    world: World
    keys: dict[str, list[int]]

    def who(self) -> dict[str, int | None]:
        world = self.world
        return {"admin": world.admin, "staff": world.staff, "customer": world.alice, "anon": None}


async def _seed(url: str) -> Seeded:
    container = await open_container(entity_settings(url))
    try:
        world = await populate(container)
        keys = await seed_rows(container, DECLARED, ROWS)
    finally:
        await container.aclose()
    return Seeded(url, world, keys)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    """A database with the demo world and ROWS objects of every declared entity."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("entity_planner") / "planner.db"
        yield asyncio.run(_seed(f"sqlite+aiosqlite:///{path}"))
        return
    require_service("PostgreSQL", bool(request.getfixturevalue("postgres_available")))
    with scratch_postgres_database("gw_test_entity_planner") as url:
        yield asyncio.run(_seed(url))


async def _open(url: str, *, planner: bool) -> AsyncIterator[Gateway]:
    settings = entity_settings(url, planner=planner)
    container = build_container(settings, entities=DECLARED)
    transport = httpx.ASGITransport(app=create_app(settings, container))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield Gateway(container, client)
    await container.aclose()


@pytest.fixture
async def on(seeded: Seeded, planned: Planned) -> AsyncIterator[Gateway]:
    # `planned` first: the container binds the read model's (spied) fetch when built.
    async for gateway in _open(seeded.url, planner=True):
        yield gateway


@pytest.fixture
async def off(seeded: Seeded) -> AsyncIterator[Gateway]:
    async for gateway in _open(seeded.url, planner=False):
        yield gateway


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_generated_operations_answer_the_same_on_both_paths(
    on: Gateway,
    off: Gateway,
    planned: Planned,
    seeded: Seeded,
    declaration: Declaration,
    data: st.DataObject,
) -> None:
    operations = Operations(DECLARED, seeded.keys)
    query, variables = data.draw(operations.operation(declaration), label="operation")
    user = data.draw(st.sampled_from(list(seeded.who().values())), label="user")
    before = planned.count
    got, expected = await both(on, off, query, variables, user)
    event("planned" if planned.count > before else "resolver path")
    assert got == expected, f"{query}\n{variables}\n{first_difference(got, expected)}"


LISTED = f"""
{{ {PLURAL}(first: 50) {{ totalCount edges {{ node {{ name active email manager {{ id }} }} }} }} }}
"""


async def test_hidden_fields_are_null_and_hidden_objects_absent_on_both_paths(
    on: Gateway, off: Gateway, planned: Planned, seeded: Seeded
) -> None:
    service = on.container.services.entities[ENTITY.name]
    page = await service.page(Principal.system(), Always(), PageRequest(first=50))
    staff = seeded.world.staff
    # Staff see active ones only, and the email of those they manage.
    expected = [
        {
            "name": s.name,
            "active": True,
            "email": str(s.email) if s.manager_id == staff else None,
            "manager": None if s.manager_id is None else {"id": to_global_id("User", s.manager_id)},
        }
        for s in page.items
        if s.active
    ]
    assert any(row["email"] for row in expected)  # the owner rule is exercised
    assert len(expected) < len(page.items)  # so is the object-level rule
    got, reference = await both(on, off, LISTED, {}, staff)
    assert got == reference, first_difference(got, reference)
    body = {PLURAL: {"totalCount": len(expected), "edges": [{"node": n} for n in expected]}}
    assert got == (200, {"data": body})
    assert planned.roots == [PLURAL, PLURAL]  # planned, then prepared

    hidden = next(s for s in page.items if not s.active)
    one = f'{{ {SINGLE}(id: "{to_global_id(ENTITY.name, hidden.id)}") {{ name email }} }}'
    got, reference = await both(on, off, one, {}, staff)
    assert got == reference == (200, {"data": {SINGLE: None}})
    got, reference = await both(on, off, one, {}, seeded.world.admin)
    shown = {"name": hidden.name, "email": str(hidden.email)}
    assert got == reference == (200, {"data": {SINGLE: shown}})


MIXED = f"""
query Mixed($node: ID!) {{
  items(first: 3) {{ totalCount edges {{ node {{ name price {{ amount }} }} }} }}
  node(id: $node) {{ id }}
  {PLURAL}(first: 5, orderBy: {{field: NAME}}) {{
    edges {{ node {{ name manager {{ name }} contacts(first: 3) {{
      totalCount edges {{ node {{ name {SINGLE} {{ name }} }} }} }} }} }}
  }}
}}
"""


async def test_a_mixed_query_costs_one_statement_per_planned_root_field(
    on: Gateway, off: Gateway, planned: Planned, seeded: Seeded
) -> None:
    variables = {"node": to_global_id(ENTITY.name, seeded.keys[ENTITY.name][0])}
    admin = seeded.world.admin
    with count_statements(on.container.engine) as log:
        answer = await on.ask(MIXED, variables, admin)
    assert "errors" not in answer.body, answer.body
    # The caller's account, `items`, the test-only entity's list (nested levels
    # included), and `node` from the resolvers.
    assert log.count == 4
    assert planned.roots == ["items", PLURAL]
    reference = await off.ask(MIXED, variables, admin)
    assert list(answer.body["data"]) == ["items", "node", PLURAL]
    assert (answer.status, answer.body) == (reference.status, reference.body)


async def test_a_field_the_planner_cannot_express_leaves_its_root_field_to_the_resolvers(
    on: Gateway, off: Gateway, planned: Planned, seeded: Seeded
) -> None:
    query = f"""
    {{ {PLURAL}(first: 3) {{ edges {{ node {{ name label }} }} }}
      items(first: 2) {{ edges {{ node {{ name }} }} }} }}
    """
    got, reference = await both(on, off, query, {}, seeded.world.admin)
    assert got == reference, first_difference(got, reference)
    assert planned.roots == ["items", "items"]
    labels = [e["node"]["label"] for e in got[1]["data"][PLURAL]["edges"]]
    assert len(labels) == 3


COMPUTED = f"""
{{ {PLURAL}(first: 50) {{ edges {{ node {{ name contactHours contactCost {{ amount currency }}
  contacts(first: 50) {{ edges {{ node {{ hours cost {{ amount currency }} }} }} }} }} }} }} }}
"""


async def test_computed_fields_are_the_same_on_both_paths_and_planned(
    on: Gateway, off: Gateway, planned: Planned, seeded: Seeded
) -> None:
    system = Principal.system()
    service = on.container.services.entities[ENTITY.name]
    # A vendor without contacts: its sums are zero (money in the declared currency).
    lonely = await service.create(
        system, {"name": "Lonely", "email": Email("lonely@example.com"), "active": True}
    )
    try:
        vendors = await service.page(system, Always(), PageRequest(first=50))
        contacts = await on.container.services.entities["VendorContact"].page(
            system, Always(), PageRequest(first=100)
        )
        expected = [_computed_node(v, contacts.items) for v in vendors.items if v.active]
        with count_statements(on.container.engine) as log:
            got, reference = await both(on, off, COMPUTED, {}, seeded.world.staff)
    finally:
        await service.delete(system, lonely.id)
    assert any(n["contactCost"]["amount"] != "0.00" for n in expected)
    assert {
        "name": "Lonely",
        "contactHours": 0,
        "contactCost": {"amount": "0.00", "currency": "USD"},
        "contacts": {"edges": []},
    } in expected
    assert got == reference, first_difference(got, reference)
    assert got == (200, {"data": {PLURAL: {"edges": [{"node": n} for n in expected]}}})
    assert planned.roots == [PLURAL, PLURAL]  # planned, then prepared
    # Each time, the caller's account and one statement for the whole list.
    reads = ["users" if "\nFROM users" in s else "planned" for s in log.statements]
    assert reads == ["users", "planned"] * 2


def _computed_node(vendor: Any, contacts: Sequence[Any]) -> dict[str, Any]:
    """A vendor's computed fields as Python computes them from the rows."""

    def money(cents: int) -> dict[str, str]:
        return {"amount": str(Money(cents).amount), "currency": "USD"}

    mine = [c for c in contacts if c.vendor_id == vendor.id]
    return {
        "name": vendor.name,
        "contactHours": sum(c.hours for c in mine),
        "contactCost": money(sum(c.rate.cents * c.hours for c in mine)),
        "contacts": {
            "edges": [
                {"node": {"hours": c.hours, "cost": money(c.rate.cents * c.hours)}} for c in mine
            ]
        },
    }


ENUMS = f"""
{{ {PLURAL}(first: 6, orderBy: {{field: TIER, direction: ASC}},
    filter: {{tierIn: [STANDARD, BLOCKED]}}) {{
  pageInfo {{ endCursor }} edges {{ cursor node {{ name tier }} }} }} }}
"""


async def test_an_enum_attribute_is_filtered_sorted_and_paged_the_same_on_both_paths(
    on: Gateway, off: Gateway, planned: Planned, seeded: Seeded
) -> None:
    admin = seeded.world.admin
    got, reference = await both(on, off, ENUMS, {}, admin)
    assert got == reference, first_difference(got, reference)
    assert planned.roots == [PLURAL, PLURAL]
    page = await on.container.services.entities[ENTITY.name].page(
        Principal.system(), Always(), PageRequest(first=50)
    )
    chosen = sorted(
        (v for v in page.items if v.tier.name in ("STANDARD", "BLOCKED")),
        key=lambda v: (v.tier.value, v.id),
    )[:6]
    nodes = [e["node"] for e in got[1]["data"][PLURAL]["edges"]]
    assert nodes == [{"name": v.name, "tier": v.tier.name} for v in chosen]
    assert {v.tier.name for v in chosen} == {"STANDARD", "BLOCKED"}
    after = got[1]["data"][PLURAL]["pageInfo"]["endCursor"]
    following = ENUMS.replace("first: 6,", f'first: 6, after: "{after}",')
    got, reference = await both(on, off, following, {}, admin)
    assert got == reference, first_difference(got, reference)


LINKED = f"""
{{ {PLURAL}(first: 20) {{ edges {{ node {{ name
  tags(first: 5, orderBy: {{field: LABEL, direction: DESC}}) {{ totalCount edges {{ node {{ label
    vendors(first: 5) {{ totalCount edges {{ node {{ name }} }} }} }} }} }} }} }} }} }}
"""


@pytest.mark.parametrize("who", ["admin", "staff"])
async def test_a_many_to_many_lists_the_visible_linked_rows_in_both_directions(
    on: Gateway, off: Gateway, planned: Planned, seeded: Seeded, who: str
) -> None:
    system, services = Principal.system(), on.container.services.entities
    every = PageRequest(first=100)
    vendors = (await services[ENTITY.name].page(system, Always(), every)).items
    tags = (await services["VendorTag"].page(system, Always(), every)).items
    links = (await services["VendorTagging"].page(system, Always(), every)).items
    pairs = {(link.vendor_id, link.tag_id) for link in links}
    admin = who == "admin"
    # Staff see active vendors and public tags only; admins see every one.
    shown_vendors = [v for v in vendors if admin or v.active]
    shown_tags = [t for t in tags if admin or t.public]

    def tags_of(vendor: Any) -> dict[str, Any]:
        mine = sorted(
            (t for t in shown_tags if (vendor.id, t.id) in pairs),
            key=lambda t: (t.label, t.id),
            reverse=True,
        )
        return {"totalCount": len(mine), "edges": [{"node": tag_node(t)} for t in mine]}

    def tag_node(tag: Any) -> dict[str, Any]:
        theirs = [{"node": {"name": v.name}} for v in shown_vendors if (v.id, tag.id) in pairs]
        return {"label": tag.label, "vendors": {"totalCount": len(theirs), "edges": theirs}}

    expected = [{"node": {"name": v.name, "tags": tags_of(v)}} for v in shown_vendors]
    assert any(len(e["node"]["tags"]["edges"]) > 1 for e in expected)  # several targets
    assert any(e["node"]["tags"]["totalCount"] == 0 for e in expected)  # and none
    user = seeded.who()[who]
    with count_statements(on.container.engine) as log:
        got, reference = await both(on, off, LINKED, {}, user)
    assert got == reference, first_difference(got, reference)
    assert got == (200, {"data": {PLURAL: {"edges": expected}}})
    assert planned.roots == [PLURAL, PLURAL]  # planned, then prepared
    # Each time, the caller's account and one statement for the whole list.
    reads = ["users" if "\nFROM users" in s else "planned" for s in log.statements]
    assert reads == ["users", "planned"] * 2


UNREAD = """
{ vendorTags(first: 20) { edges { node { label
  vendors(first: 5) { totalCount edges { node { name contactCost { amount } } } } } } } }
"""


async def test_a_caller_who_may_not_read_the_target_sees_no_linked_rows(
    on: Gateway, off: Gateway, planned: Planned, seeded: Seeded
) -> None:
    tags = await on.container.services.entities["VendorTag"].page(
        Principal.system(), Always(), PageRequest(first=50)
    )
    nobody: dict[str, Any] = {"totalCount": 0, "edges": []}
    # Customers read public tags, and no vendor (nor a computed field of one).
    expected = [{"node": {"label": t.label, "vendors": nobody}} for t in tags.items if t.public]
    got, reference = await both(on, off, UNREAD, {}, seeded.world.alice)
    assert got == reference, first_difference(got, reference)
    assert got == (200, {"data": {"vendorTags": {"edges": expected}}})
    assert planned.roots == ["vendorTags", "vendorTags"]
