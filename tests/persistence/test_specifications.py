"""Compiled specifications select exactly the rows `is_satisfied_by` accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.errors import ValidationError
from domain.items import Item
from domain.money import Money
from domain.orders import OrderStatus
from domain.paging import PageRequest, sort_key
from domain.specifications import Always, And, Compare, Not, Op, Or, Specification, field
from domain.users import Email
from gateway.container import application_repositories
from persistence.specifications import Kind, SqlField, compile_spec
from persistence.tables import UtcDateTime
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.persistence.builders import BASE_TIME, store_items

NAMES = ["Widget", "widget", "WIDGET 100%", "under_score", "back\\slash", "Éclair", "éclair"]
NAMES += ["straße", "STRASSE", "İstanbul", "a", "b", "Z", "", "  "]
DESCRIPTIONS = ["", "50% off", "x_y", "tab\tin", "emoji 🙂", "O'Reilly", 'quote "q"']
SEARCHES = ["", "%", "_", "\\", "wid", "WID", "é", "É", "ss", "ß", "i", "0%", "'", "🙂", 'q"']
PRICES = [Money(0), Money(100), Money(100, "EUR"), Money(2500), Money(99_999_999_999, "EUR")]


def catalog_items() -> list[Item]:
    items = []
    for n in range(36):
        items.append(
            Item(
                sku=f"SKU-{n % 7}-{n:03d}",
                name=(NAMES[n % len(NAMES)].strip() or "blank") + ("" if n % 3 else " x"),
                description=DESCRIPTIONS[n % len(DESCRIPTIONS)],
                price=PRICES[n % len(PRICES)],
                stock=n % 5,
                active=n % 4 != 0,
                created_at=BASE_TIME + timedelta(hours=n % 9),
            )
        )
    return items


@pytest.fixture
async def catalog(uow_factory: SqlUnitOfWorkFactory) -> list[Item]:
    """One seeded catalog per test, shared by all its Hypothesis examples."""
    return await store_items(uow_factory, catalog_items())


TEXT_VALUES = st.sampled_from(NAMES + SEARCHES + [item.sku for item in catalog_items()])
ORDERING = st.sampled_from([Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE])


def _times() -> st.SearchStrategy[datetime]:
    zones = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=5))])
    offsets = st.integers(min_value=-2, max_value=10).map(lambda h: timedelta(hours=h))
    return st.builds(lambda o, z: (BASE_TIME + o).astimezone(z), offsets, zones)


def leaves() -> st.SearchStrategy[Specification]:
    money = st.builds(
        Money,
        st.sampled_from([0, 99, 100, 101, 2500, 99_999_999_999]),
        st.sampled_from(["USD", "EUR"]),
    )
    ints = st.integers(min_value=-1, max_value=40)
    text_fields = st.sampled_from(["sku", "name", "description"])
    return st.one_of(
        st.builds(Compare, text_fields, ORDERING, TEXT_VALUES),
        st.builds(Compare, text_fields, st.just(Op.CONTAINS), st.sampled_from(SEARCHES)),
        st.builds(
            Compare, text_fields, st.just(Op.IN), st.lists(TEXT_VALUES, max_size=3).map(tuple)
        ),
        st.builds(Compare, st.just("price"), ORDERING, money),
        st.builds(
            Compare, st.just("price"), st.just(Op.IN), st.lists(money, max_size=3).map(tuple)
        ),
        st.builds(Compare, st.sampled_from(["stock", "id"]), ORDERING, ints),
        st.builds(
            Compare,
            st.sampled_from(["stock", "id"]),
            st.just(Op.IN),
            st.lists(ints, max_size=4).map(tuple),
        ),
        st.builds(Compare, st.just("active"), st.sampled_from([Op.EQ, Op.NE]), st.booleans()),
        st.builds(Compare, st.just("created_at"), ORDERING, _times()),
        st.just(Always()),
    )


def specs() -> st.SearchStrategy[Specification]:
    return st.recursive(
        leaves(),
        lambda children: st.one_of(
            st.lists(children, min_size=0, max_size=3).map(lambda ps: And(tuple(ps))),
            st.lists(children, min_size=0, max_size=3).map(lambda ps: Or(tuple(ps))),
            children.map(Not),
        ),
        max_leaves=8,
    )


async def _selected(factory: SqlUnitOfWorkFactory, spec: Specification) -> list[int]:
    async with factory(read_only=True) as uow:
        page = await uow.items.page(spec, PageRequest(first=1000))
        count = await uow.items.count(spec)
    ids = [item.id for item in page.items]
    assert count == len(ids)
    return ids


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=specs())
async def test_sql_and_python_select_the_same_items(
    uow_factory: SqlUnitOfWorkFactory, catalog: list[Item], spec: Specification
) -> None:
    expected = [item.id for item in catalog if spec.is_satisfied_by(item)]
    assert await _selected(uow_factory, spec) == expected


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(left=specs(), right=specs())
async def test_de_morgan_holds_in_sql(
    uow_factory: SqlUnitOfWorkFactory,
    catalog: list[Item],
    left: Specification,
    right: Specification,
) -> None:
    not_both = await _selected(uow_factory, ~(left & right))
    either_not = await _selected(uow_factory, ~left | ~right)
    not_either = await _selected(uow_factory, ~(left | right))
    neither = await _selected(uow_factory, ~left & ~right)
    assert (not_both, not_either) == (either_not, neither)
    assert not_both == [item.id for item in catalog if not (left & right).is_satisfied_by(item)]


async def test_contains_escapes_like_wildcards(
    uow_factory: SqlUnitOfWorkFactory, catalog: list[Item]
) -> None:
    percent = await _selected(uow_factory, field("name").contains("100%"))
    underscore = await _selected(uow_factory, field("name").contains("r_s"))
    names = {item.id: item.name for item in catalog}
    assert [names[i] for i in percent] == ["WIDGET 100%"] * 3
    assert [names[i] for i in underscore] == ["under_score x"] * 3


# --- unit checks on the compiler -------------------------------------------------------

_T = sa.table(
    "t",
    sa.column("id", sa.Integer),
    sa.column("nick", sa.String),
    sa.column("price_cents", sa.BigInteger),
    sa.column("currency", sa.String),
    sa.column("email", sa.String),
)
FIELDS = {
    "id": SqlField(_T.c.id),
    "nick": SqlField(_T.c.nick, Kind.TEXT, nullable=True),
    "price": SqlField(_T.c.price_cents, Kind.MONEY, currency=_T.c.currency),
    "email": SqlField(_T.c.email, Kind.EMAIL),
}


def _sql(spec: Specification) -> str:
    compiled = compile_spec(spec, FIELDS).compile(compile_kwargs={"literal_binds": True})
    return str(compiled)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (field("price") < Money(5, "eur"), "t.currency = 'EUR' AND t.price_cents < 5"),
        (field("email") == Email("A@B.io"), "t.email = 'a@b.io'"),
        (~(field("nick") == "x"), "NOT coalesce(t.nick = 'x', false)"),
        (field("nick") != None, "t.nick IS NOT NULL"),  # noqa: E711
        (field("nick") == None, "false"),  # noqa: E711
        (field("nick").is_in(["a", None]), "coalesce(t.nick IN ('a'), false) OR t.nick IS NULL"),
        (
            field("nick").contains("50%_A"),
            "lower(coalesce(t.nick, 'None')) LIKE '%50\\%\\_a%' ESCAPE '\\'",
        ),
    ],
)
def test_leaves_compile_to_two_valued_sql(spec: Specification, expected: str) -> None:
    assert _sql(spec) == expected


def test_nullable_leaves_match_python_none_semantics() -> None:
    class Row:
        nick: str | None = None

    # Python: a comparison with None is False, NOT of it is True, contains sees "None".
    row = Row()
    assert (field("nick") == "x").is_satisfied_by(row) is False
    assert (~(field("nick") == "x")).is_satisfied_by(row) is True
    assert field("nick").contains("non").is_satisfied_by(row) is True


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (field("roles") == "admin", "roles: cannot be filtered on"),
        (field("price") > 5, "price: expects an amount of money"),
        (field("id").contains("1"), "id: only text fields support contains"),
        (field("nick") < None, "nick: cannot use lt with null"),
        (field("id") == "1", "id: cannot be compared with str"),
    ],
)
def test_unusable_specifications_are_validation_errors(spec: Specification, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        compile_spec(spec, FIELDS)
    assert str(raised.value) == message


def test_order_status_compiles_to_its_stored_value() -> None:
    fields = application_repositories()["Order"].fields
    expr = compile_spec(field("status").is_in([OrderStatus.PAID, "placed"]), fields)
    compiled: Any = expr.compile(compile_kwargs={"literal_binds": True})
    assert str(compiled) == "orders.status IN ('paid', 'placed')"


@given(st.decimals(allow_nan=False, allow_infinity=False, places=6))
def test_a_decimal_sort_key_comes_back_from_its_cursor(value: Decimal) -> None:
    rate = SqlField(sa.column("rate", sa.Numeric(18, 6)))
    assert rate.decode_cursor_key(sort_key(value)) == value


@pytest.mark.parametrize("key", ["NaN", "Infinity", "-inf", "0.5x", "", 3, None])
def test_a_decimal_cursor_that_is_not_a_finite_number_is_refused(key: object) -> None:
    rate = SqlField(sa.column("rate", sa.Numeric(18, 6)))
    with pytest.raises(ValidationError) as refused:
        rate.decode_cursor_key(key)
    assert str(refused.value) == "after: is not a valid cursor"


@pytest.mark.parametrize(
    "key",
    [
        "9999-12-31T23:59:59.999999-05:00",  # past the last datetime once in UTC
        "0001-01-01T00:00:00+05:00",  # before the first
        "2025-02-30T00:00:00+00:00",
        "yesterday",
    ],
)
def test_a_time_cursor_that_is_no_utc_time_is_refused(key: str) -> None:
    created = SqlField(sa.column("created_at", UtcDateTime()))
    with pytest.raises(ValidationError) as refused:
        created.decode_cursor_key(key)
    assert str(refused.value) == "after: is not a valid cursor"


@given(st.datetimes(timezones=st.just(UTC)))
def test_a_time_sort_key_comes_back_from_its_cursor(value: datetime) -> None:
    created = SqlField(sa.column("created_at", UtcDateTime()))
    assert created.decode_cursor_key(sort_key(value)) == value
