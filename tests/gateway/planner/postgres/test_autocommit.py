"""Planned reads on Postgres run in autocommit: no BEGIN and ROLLBACK around a SELECT."""

from __future__ import annotations

from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type hints
import pytest

from persistence.read_model import SqlReadModel
from tests.gateway.planner.conftest import ADMIN, Gateway, _gateway
from tests.gateway.planner.test_statements import TWO_ROOTS


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
