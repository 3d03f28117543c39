"""The N+1 guard on the planner path: one SQL statement per root field, whatever the size."""

from __future__ import annotations

from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type hints
import pytest

from persistence.read_model import SqlReadModel
from tests.gateway.planner.postgres.conftest import ADMIN, Gateway, Planned, _gateway
from tests.gateway.planner.postgres.test_equivalence import N_PLUS_ONE
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


async def test_planned_reads_open_no_transaction(
    planner_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # asyncpg starts a transaction object for BEGIN ... ROLLBACK; autocommit reads skip it.
    # Counted only inside the read model (the caller's lookup has its own unit of work,
    # and an idle pooled connection may be pinged).
    reading: list[bool] = []
    reads: list[bool] = []
    started: list[object] = []
    transaction, fetch = asyncpg.Connection.transaction, SqlReadModel.fetch

    def counting(self: asyncpg.Connection, **options: object) -> object:
        if reading:
            started.append(options)
        return transaction(self, **options)

    async def marked(self: SqlReadModel, *args: Any) -> dict[str, str]:
        reading.append(True)
        reads.append(True)
        try:
            return await fetch(self, *args)
        finally:
            reading.pop()

    monkeypatch.setattr(asyncpg.Connection, "transaction", counting)
    monkeypatch.setattr(SqlReadModel, "fetch", marked)  # before the container binds it
    container, client = await _gateway(planner_database_url, planner=True)
    try:
        async with client:
            answer = await Gateway(container, client).ask(TWO_ROOTS, {"n": 3}, ADMIN)
    finally:
        await container.aclose()
    assert "errors" not in answer.body, answer.body
    assert (len(reads), started) == (1, [])  # planned, and without a transaction
