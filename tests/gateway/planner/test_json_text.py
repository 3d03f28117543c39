"""The read model's JSON text: compact, exactly as Python writes it, whatever the values.

The statement writes JSON by concatenating text, so every value's quoting, escaping
and `null` is the SQL's own doing: these tests read the text itself, not only its
parsed value.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import read_plan as plan
from domain.paging import Direction, PageRequest, Sort
from domain.specifications import Always, Specification, field
from persistence.database import create_engine
from persistence.read_model import SqlReadModel
from schema.declarations.items import Item
from schema.declarations.orders import Order, OrderLine
from schema.entities import declaration_of
from schema.planner.declared import source_of
from tests.gateway.planner.diff import first_difference
from tests.gateway.planner.gateways import ADMIN, Gateway, Planned

# The declared Item, as the planner describes it.
SOURCE = source_of(declaration_of(Item))
PRICE = SOURCE.column("price")
ITEM_FIELDS: tuple[plan.Field, ...] = (
    plan.GlobalId("id", "Item"),
    *(plan.Stored(name, SOURCE.column(name)) for name in ("name", "description", "stock")),
    plan.Stored("active", SOURCE.column("active")),
    plan.Stored("createdAt", SOURCE.column("created_at")),
    plan.Money(
        "price", PRICE, (("amount", plan.MoneyPart.AMOUNT), ("currency", plan.MoneyPart.CURRENCY))
    ),
)
ITEM = plan.Selection(SOURCE, ITEM_FIELDS)
EVERY: Specification = Always()
ONLY_ACTIVE: Specification = field("active") == True  # noqa: E712  # a specification


@pytest.fixture
async def engine(planner_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(planner_database_url)
    yield engine
    await engine.dispose()


def _items(first: int, spec: Specification = EVERY) -> plan.Connection:
    info = plan.PageInfo(
        "pageInfo",
        (
            ("hasNextPage", plan.PageInfoPart.HAS_NEXT_PAGE),
            ("startCursor", plan.PageInfoPart.START_CURSOR),
            ("endCursor", plan.PageInfoPart.END_CURSOR),
        ),
    )
    edges = plan.Edges("edges", (plan.EdgeCursor("cursor"), plan.EdgeNode("node", ITEM)))
    request = PageRequest(first, None, Sort("name", Direction.ASC))
    return plan.Connection(SOURCE, spec, request, (plan.TotalCount("n"), edges, info))


async def _fetch(
    engine: AsyncEngine, roots: tuple[plan.Root, ...], rules: dict[str, Specification]
) -> dict[str, str]:
    built = plan.Plan(roots, frozenset(rules))
    return await SqlReadModel(engine).fetch(built, plan.Scope(ADMIN, rules))


def _compact(text: str) -> str:
    """The text as Python writes its parsed value: compact, non-ASCII unescaped."""
    return json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))


async def test_awkward_text_is_written_compact_and_escaped_as_python_does(
    engine: AsyncEngine,
) -> None:
    texts = await _fetch(engine, (plan.RootConnection("items", _items(100)),), {"Item": Always()})
    text = texts["items"]
    assert text == _compact(text)
    nodes = [edge["node"] for edge in json.loads(text)["edges"]]
    names = [node["name"] for node in nodes]
    assert 'Two\nlines\r\t"q" it\'s \\ / é ☕ 😀' in names
    assert 'Crème brûlée ☕ "x"' in names
    described = [node["description"] for node in nodes if "\x01" in node["description"]]
    assert described == ['\x01\x1f\x7f \u2028 \b\f "end"\n']
    first = nodes[0]
    assert type(first["stock"]) is int
    assert type(first["active"]) is bool
    assert type(first["price"]["amount"]) is str


async def test_missing_and_hidden_objects_and_empty_pages_are_null_or_empty(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as conn:
        order_id = (
            await conn.execute(
                sa.text(
                    "SELECT order_lines.order_id FROM order_lines"
                    " JOIN items ON items.id = order_lines.item_id"
                    " WHERE NOT items.active ORDER BY order_lines.id LIMIT 1"
                )
            )
        ).scalar_one()
    lines = source_of(declaration_of(OrderLine))
    line = plan.Selection(
        lines,
        (
            plan.Stored("quantity", lines.column("quantity")),
            plan.ManyToOne("item", "item_id", ITEM),
        ),
    )
    order_source = source_of(declaration_of(Order))
    order = plan.Selection(order_source, (plan.Parts("lines", "order_id", line),))
    nothing = field("stock") < -1
    texts = await _fetch(
        engine,
        (
            plan.RootObject("order", order, order_id),
            plan.RootObject("missing", ITEM, 1_000_000),
            plan.RootConnection("none", _items(3, nothing)),
        ),
        {"Item": ONLY_ACTIVE, "Order": Always(), "OrderLine": Always()},
    )
    assert all(text == _compact(text) for text in texts.values())
    items = [line["item"] for line in json.loads(texts["order"])["lines"]]
    assert None in items
    assert texts["missing"] == "null"
    assert json.loads(texts["none"]) == {
        "n": 0,
        "edges": [],
        "pageInfo": {"hasNextPage": False, "startCursor": None, "endCursor": None},
    }


async def test_thousands_of_values_spliced_into_one_object_level_still_parse(
    engine: AsyncEngine,
) -> None:
    # 50 prices of 50 amounts each, all spliced into the edge's text: longer than the
    # `||` chain Postgres can parse in one piece.
    amounts = tuple((f"a{n}", plan.MoneyPart.AMOUNT) for n in range(50))
    prices = tuple(plan.Money(f"p{n}", PRICE, amounts) for n in range(50))
    edges = plan.Edges("edges", (plan.EdgeNode("node", plan.Selection(SOURCE, prices)),))
    request = PageRequest(2, None, Sort("id", Direction.ASC))
    connection = plan.Connection(SOURCE, Always(), request, (edges,))
    texts = await _fetch(engine, (plan.RootConnection("items", connection),), {"Item": Always()})
    async with engine.connect() as conn:
        cents = await conn.execute(sa.text("SELECT price_cents FROM items ORDER BY id LIMIT 2"))
        expected = [f"{value // 100}.{value % 100:02d}" for value in cents.scalars()]
    nodes = [edge["node"] for edge in json.loads(texts["items"])["edges"]]
    assert [{node[p][a] for p in node for a in node[p]} for node in nodes] == [
        {amount} for amount in expected
    ]
    assert list(nodes[0]) == [f"p{n}" for n in range(50)]


ITEMS_BY_NAME = """
{ items(first: 100, orderBy: {field: NAME}) {
    edges { cursor node { name description sku price { amount } } }
    pageInfo { startCursor endCursor } } }
"""


@pytest.mark.parametrize("user", [ADMIN, None])
async def test_awkward_text_answers_the_same_on_both_paths(
    planner_on: Gateway, planner_off: Gateway, planned: Planned, user: int | None
) -> None:
    got = await planner_on.ask(ITEMS_BY_NAME, None, user)
    expected = await planner_off.ask(ITEMS_BY_NAME, None, user)
    assert planned.count == 1
    answer: Any = (got.status, got.body)
    reference: Any = (expected.status, expected.body)
    assert answer == reference, first_difference(answer, reference)
