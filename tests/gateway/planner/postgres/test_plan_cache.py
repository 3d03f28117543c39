"""Planned statements are planned by Postgres once per connection, not at every execution."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type hints
import pytest
from sqlalchemy.engine import make_url

from persistence.driver_reads import DriverReads, DriverStatement
from tests.gateway.planner.gateways import ADMIN, ask_two_roots

# Postgres plans the first five executions of a prepared statement with parameters for
# their values, then keeps a generic plan only if it does not look costlier.
EXECUTIONS = 8


async def test_an_admins_pages_are_planned_once_per_connection(
    planner_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A page size bound as `LIMIT $n` looks like a tenth of the table to the generic plan,
    # so Postgres planned the latest-orders page again at every execution.
    sent: list[DriverStatement] = []
    fetch = DriverReads.fetch

    async def recording(
        reads: DriverReads, statements: Sequence[DriverStatement], caller_id: int | None
    ) -> list[Any]:
        sent.extend(statements)
        return await fetch(reads, statements, caller_id)

    monkeypatch.setattr(DriverReads, "fetch", recording)
    await ask_two_roots(planner_database_url)
    assert len(sent) == 2  # users, and the orders page

    url = make_url(planner_database_url).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        plans = []
        for statement in sent:
            values = list(statement.values)
            if statement.caller_at is not None:
                values[statement.caller_at] = ADMIN
            prepared = await conn.prepare(statement.sql)
            for _ in range(EXECUTIONS):
                await prepared.fetchval(*values)
            plans.append(
                await conn.fetchrow(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                    " WHERE statement = $1",
                    statement.sql,
                )
            )
    finally:
        await conn.close()
    assert [(row["generic_plans"], row["custom_plans"]) for row in plans] == [
        (EXECUTIONS, 0),
        (EXECUTIONS, 0),
    ]
