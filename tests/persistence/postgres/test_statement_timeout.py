"""The statement timeout bounds the application's statements, not what the driver sends
to set a connection up (a connection's first statement binding an array of ids included)."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import TimedOutError
from persistence.database import create_engine

# The repositories' batched lookup: one array parameter, `id = ANY($1)`.
IDS = sa.bindparam("ids", [1, 2], type_=postgresql.ARRAY(sa.Integer))
BATCHED = sa.select(sa.func.count()).select_from(sa.func.unnest(IDS))


async def test_a_new_connections_first_batched_lookup_is_not_bound_by_the_timeout(
    postgres_url: str, postgres_engine: AsyncEngine
) -> None:
    # asyncpg learns an array type with a recursive catalog query the first time a
    # statement on a connection binds one. Under the timeout a loaded server once
    # cancelled that query: here it waits on a lock of `pg_range` (which it reads) for
    # longer than the timeout.
    engine = create_engine(postgres_url, statement_timeout_seconds=0.2)
    try:
        async with postgres_engine.connect() as holder:
            lock = "LOCK TABLE pg_catalog.pg_range IN ACCESS EXCLUSIVE MODE"
            await holder.execute(sa.text(lock))

            async def release() -> None:
                await asyncio.sleep(0.5)
                await holder.rollback()

            releasing = asyncio.create_task(release())
            async with engine.connect() as conn:
                counted = (await conn.execute(BATCHED)).scalar_one()
                with pytest.raises(TimedOutError):  # the application's statements stay bounded
                    await conn.execute(sa.text("SELECT pg_sleep(5)"))
            await releasing
    finally:
        await engine.dispose()
    assert counted == 2
