"""An unreachable database is UnavailableError; a cancelled statement stays cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import UnavailableError
from persistence.database import create_engine


@pytest.fixture
async def unreachable() -> AsyncIterator[AsyncEngine]:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    yield engine
    await engine.dispose()


async def test_a_refused_connection_is_unavailable_with_a_retry_hint(
    unreachable: AsyncEngine,
) -> None:
    with pytest.raises(UnavailableError) as failure:
        async with unreachable.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    assert (str(failure.value), failure.value.retry_after) == (
        "the database is unavailable; try again later",
        5,
    )
    assert isinstance(failure.value.__cause__, OSError)


async def test_a_cancelled_statement_is_cancelled_not_unavailable(
    postgres_engine: AsyncEngine,
) -> None:
    # SQLAlchemy handles a cancellation under a statement as a disconnect (it invalidates
    # the connection); turning it into UnavailableError would swallow the cancellation
    # (a background task that cannot be stopped).
    async def sleep() -> None:
        async with postgres_engine.connect() as conn:
            await conn.execute(sa.text("SELECT pg_sleep(5)"))

    task = asyncio.create_task(sleep())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
