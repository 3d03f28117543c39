"""Planned reads on Postgres run in autocommit: no BEGIN and ROLLBACK around a SELECT."""

from __future__ import annotations

import asyncio

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type hints
import pytest

from tests.gateway.planner.gateways import ReadModelSpy, ask_two_roots


async def test_planned_reads_open_no_transaction(
    planner_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # asyncpg starts a transaction object for BEGIN ... ROLLBACK; autocommit reads skip it.
    spy = ReadModelSpy(monkeypatch)
    started: list[object] = []
    transaction = asyncpg.Connection.transaction

    def counting(self: asyncpg.Connection, **options: object) -> object:
        if spy.fetching and asyncio.current_task() is spy.task:
            started.append(options)
        return transaction(self, **options)

    monkeypatch.setattr(asyncpg.Connection, "transaction", counting)
    await ask_two_roots(planner_database_url)
    assert (spy.fetches, started) == (1, [])  # planned, and without a transaction
