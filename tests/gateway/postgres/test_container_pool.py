"""The composition root hands DATABASE__PING_AFTER_IDLE_SECONDS to the engine."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.container import Container, build_container
from gateway.settings import Settings
from persistence.database import create_engine
from persistence.fair_pool import FairAsyncQueuePool
from tests.services import POSTGRES_ADMIN_URL, require_service


def _container(**database: Any) -> Container:
    """The composition root on the Postgres test server, with these database settings."""
    settings = Settings(
        database={"url": POSTGRES_ADMIN_URL, **database}, security={"secret_key": "s" * 40}
    )
    return build_container(settings)


async def test_a_zero_ping_window_setting_pings_every_checkout(
    postgres_available: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default window (1 s) would ping none of these back-to-back checkouts.
    require_service("PostgreSQL", postgres_available)
    container = _container(ping_after_idle_seconds=0)
    pings: list[Any] = []
    real_ping = container.engine.dialect.do_ping

    def do_ping(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return real_ping(dbapi_connection)

    monkeypatch.setattr(container.engine.dialect, "do_ping", do_ping)
    try:
        for _ in range(2):
            async with container.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
    finally:
        await container.aclose()
    assert len(pings) == 2


async def test_a_burst_past_the_pool_waits_for_pooled_connections(
    postgres_available: bool,
) -> None:
    """No connection is opened (and closed on return) per request past the pool."""
    require_service("PostgreSQL", postgres_available)
    container = _container(pool_size=2)
    opened: list[Any] = []
    sa.event.listen(container.engine.sync_engine, "connect", lambda *args: opened.append(args))

    async def statement() -> None:
        async with container.engine.connect() as conn:
            await conn.execute(sa.text("SELECT pg_sleep(0.02)"))

    try:
        for _ in range(3):
            await asyncio.gather(*(statement() for _ in range(6)))
    finally:
        await container.aclose()
    assert len(opened) == 2


def test_the_postgres_pool_serves_its_waiters_in_order(postgres_available: bool) -> None:
    require_service("PostgreSQL", postgres_available)
    engine = create_engine(POSTGRES_ADMIN_URL)
    assert isinstance(engine.pool, FairAsyncQueuePool)


async def test_one_request_at_a_time_reuses_the_connection_returned_last(
    postgres_available: bool,
) -> None:
    """After a burst opened the whole pool, sequential statements stay on one backend."""
    require_service("PostgreSQL", postgres_available)
    container = _container(pool_size=4)

    async def backend(hold: float = 0.0) -> int:
        async with container.engine.connect() as conn:
            pid = int((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())
            await asyncio.sleep(hold)
            return pid

    try:
        burst = await asyncio.gather(*(backend(0.02) for _ in range(4)))
        one_by_one = [await backend() for _ in range(6)]
    finally:
        await container.aclose()
    assert len(set(burst)) == 4
    assert len(set(one_by_one)) == 1
