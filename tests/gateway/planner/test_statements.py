"""The N+1 guard on the planner path: one SQL statement per root field, whatever the size."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.read_model import SqlReadModel
from tests.gateway.planner.conftest import ADMIN, Gateway, Planned, _gateway
from tests.gateway.planner.test_equivalence import N_PLUS_ONE
from tests.helpers import assert_max_statements

# The acting user's lookup (authentication) and one statement for `users`.
STATEMENTS = 2

TWO_ROOTS = """
query Two($n: Int!) {
  users(first: $n) { edges { node { name orders { edges { node { lines { item { name } } } } } } } }
  orders(first: $n) { totalCount edges { node { customer { name } lines { quantity } } } }
}
"""


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


class ReadModelSpy:
    """Marks the time the read model spends fetching, so a test can look at what is sent
    then and nothing else (the caller's lookup has its own unit of work, and an idle
    pooled connection may be pinged). Install before the container binds `fetch`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fetching = False
        self.fetches = 0
        # The task fetching: background work (the outbox relay, a revocation refresh) may
        # run on other connections meanwhile and is not the read model's.
        self.task: asyncio.Task[Any] | None = None
        fetch = SqlReadModel.fetch

        async def marked(model: SqlReadModel, *args: Any) -> dict[str, str]:
            self.fetching, self.fetches = True, self.fetches + 1
            self.task = asyncio.current_task()
            try:
                return await fetch(model, *args)
            finally:
                self.fetching = False

        monkeypatch.setattr(SqlReadModel, "fetch", marked)


async def ask_two_roots(
    url: str, on_engine: Callable[[AsyncEngine], None] | None = None
) -> dict[str, Any]:
    """TWO_ROOTS asked once as an admin through a planned gateway on `url`; its body.
    `on_engine(engine)` runs on the container's engine first."""
    container, client = await _gateway(url, planner=True)
    if on_engine is not None:
        on_engine(container.engine)
    try:
        async with client:
            answer = await Gateway(container, client).ask(TWO_ROOTS, {"n": 3}, ADMIN)
    finally:
        await container.aclose()
    assert "errors" not in answer.body, answer.body
    body: dict[str, Any] = answer.body
    return body


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
