"""The N+1 guard on the planner path: one SQL statement per root field, whatever the size."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.gateway.planner.examples import N_PLUS_ONE
from tests.gateway.planner.gateways import (
    ADMIN,
    TWO_ROOTS,
    Gateway,
    Planned,
    ReadModelSpy,
    ask_two_roots,
)
from tests.helpers import assert_max_statements

# The acting user's lookup (authentication) and one statement for `users`.
STATEMENTS = 2


async def _statements(gateway: Gateway, query: str, n: int) -> tuple[int, int]:
    with assert_max_statements(gateway.container.engine, STATEMENTS + 1) as log:
        answer = await gateway.ask(query, {"n": n}, ADMIN)
    assert "errors" not in answer.body, answer.body
    users = answer.body["data"]["users"]["edges"]
    assert len(users) == n
    return log.count, sum(len(u["node"]["orders"]["edges"]) for u in users)


async def test_the_nested_query_costs_one_statement_for_5_and_for_50_users(
    planner_on: Gateway, planned: Planned
) -> None:
    small, small_orders = await _statements(planner_on, N_PLUS_ONE, 5)
    large, large_orders = await _statements(planner_on, N_PLUS_ONE, 50)
    assert large_orders > small_orders > 0
    assert (small, large) == (STATEMENTS, STATEMENTS)
    assert planned.roots == ["users", "users"]


async def test_each_root_field_costs_one_statement(planner_on: Gateway, planned: Planned) -> None:
    count, _orders = await _statements(planner_on, TWO_ROOTS, 20)
    assert count == STATEMENTS + 1
    assert planned.roots == ["users", "orders"]


async def test_planned_reads_on_sqlite_send_no_begin(
    sqlite_planner_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each statement is its own transaction, as on Postgres: no BEGIN, so no round
    # trips for it to aiosqlite's thread.
    spy = ReadModelSpy(monkeypatch)
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if spy.fetching:
            sent.append(statement.split(None, 1)[0].upper())

    def listen(engine: AsyncEngine) -> None:
        sa.event.listen(engine.sync_engine, "before_cursor_execute", record)

    await ask_two_roots(sqlite_planner_url, listen)
    assert sent == ["SELECT", "SELECT"]  # one per root field, and no BEGIN
