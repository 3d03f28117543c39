"""Each database writes a value's JSON text exactly as Python writes it.

The read model's answers must match the resolver path's byte for byte where a client
could tell (cursors and ids are opaque strings compared whole), so every value the
dialects render in SQL is compared with the Python it stands for, over generated
values, on SQLite and on Postgres.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import users
from domain.money import Money
from domain.paging import Cursor
from persistence import tables
from persistence.json_text import text
from persistence.read_model import json_dialect
from schema.node import to_global_id

# Any text a column can hold: Postgres text has no NUL, and no string has lone surrogates.
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
IDS = st.integers(min_value=1, max_value=2**31 - 1)
PROPERTY = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


async def _value(engine: AsyncEngine, expression: Any, **parameters: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(sa.select(expression), parameters)).scalar_one()


def _text_param(name: str) -> Any:
    return sa.bindparam(name, type_=sa.Text)


@PROPERTY
@given(value=TEXT, ident=IDS)
async def test_a_text_cursor_is_the_one_python_encodes(
    engine: AsyncEngine, value: str, ident: int
) -> None:
    sql = json_dialect(engine)
    raw = text(
        ["[", sql.ascii_string(_text_param("v")), ",", sa.bindparam("i", type_=sa.Integer), "]"]
    )
    assert (
        await _value(engine, sql.base64url(raw), v=value, i=ident) == Cursor(value, ident).encode()
    )


@PROPERTY
@given(value=TEXT)
async def test_a_json_string_is_the_one_python_writes(engine: AsyncEngine, value: str) -> None:
    sql = json_dialect(engine)
    written = await _value(engine, text(sql.string(_text_param("v"))), v=value)
    assert written == json.dumps(value, ensure_ascii=False)


@PROPERTY
@given(key=IDS, type_name=st.sampled_from(["User", "Item", "Order"]))
async def test_a_global_id_is_the_one_python_encodes(
    engine: AsyncEngine, key: int, type_name: str
) -> None:
    sql = json_dialect(engine)
    expression = sql.base64(
        sa.literal(f"{type_name}:", sa.Text).concat(sa.bindparam("k", type_=sa.Integer))
    )
    assert await _value(engine, expression, k=key) == to_global_id(type_name, key)


@pytest.mark.parametrize("size", [1, 55, 56, 57, 200])
async def test_base64_is_one_line_up_to_56_bytes_and_joined_beyond(
    engine: AsyncEngine, size: int
) -> None:
    # Global ids skip the joining of base64 lines when they fit in 56 bytes: Postgres
    # ends a full line of 76 characters (57 bytes) with a line break, even the last.
    sql = json_dialect(engine)
    value = ("Order:" + "9" * size)[:size]
    expected = base64.b64encode(value.encode()).decode()
    written = [await _value(engine, sql.base64(_text_param("v")), v=value)]
    if size <= 56:
        written.append(await _value(engine, sql.base64(_text_param("v"), one_line=True), v=value))
    assert written == [expected] * len(written)


@PROPERTY
@given(moment=st.datetimes(timezones=st.just(UTC)))
async def test_a_time_is_written_as_isoformat(engine: AsyncEngine, moment: datetime) -> None:
    sql = json_dialect(engine)
    stored = sa.bindparam("t", type_=tables.UtcDateTime())
    assert await _value(engine, sql.iso_timestamp(stored), t=moment) == moment.isoformat()


@PROPERTY
@given(cents=st.integers(min_value=-(10**15), max_value=10**15))
async def test_a_money_amount_is_written_as_money_does(engine: AsyncEngine, cents: int) -> None:
    sql = json_dialect(engine)
    amount = sql.money_amount(sa.bindparam("c", type_=sa.BigInteger))
    assert await _value(engine, amount, c=cents) == str(Money(cents).amount)


@pytest.mark.parametrize(
    "roles", [frozenset(), frozenset({"customer"}), frozenset({"staff", "admin", "customer"})]
)
async def test_role_names_are_the_sorted_graphql_names(
    engine: AsyncEngine, roles: frozenset[str]
) -> None:
    sql = json_dialect(engine)
    stored = tables.encode_roles(frozenset(users.Role(role) for role in roles))
    names = await _value(engine, sql.role_names(_text_param("r")), r=stored)
    assert json.loads(names) == sorted(role.upper() for role in roles)
