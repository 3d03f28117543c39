"""The pool pings a Postgres connection only after it sat idle, and replaces a dead one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import UnavailableError
from persistence.database import create_engine
from tests.services import POSTGRES_ADMIN_URL, require_service

type EngineFactory = Callable[[float], AsyncEngine]

# Long enough that no machine takes it between two checkouts; short enough to sleep past.
NEVER = 60.0
SHORT = 0.05
PAST_SHORT = 0.25


@pytest.fixture
async def make_engine(postgres_available: bool) -> AsyncIterator[EngineFactory]:
    """Engines on the server with a given ping window; all disposed at the end."""
    require_service("PostgreSQL", postgres_available)
    engines: list[AsyncEngine] = []

    def make(window: float) -> AsyncEngine:
        engine = create_engine(POSTGRES_ADMIN_URL, ping_after_idle_seconds=window)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.dispose()


def spy_on_pings(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The outcome of every ping the engine's pool sends ("alive" or "failed"), in order."""
    outcomes: list[str] = []
    real_ping = engine.dialect.do_ping

    def do_ping(dbapi_connection: Any) -> bool:
        try:
            alive = real_ping(dbapi_connection)
        except Exception:
            outcomes.append("failed")
            raise
        outcomes.append("alive")
        return alive

    monkeypatch.setattr(engine.dialect, "do_ping", do_ping)
    return outcomes


async def backend_pid(engine: AsyncEngine) -> int:
    """Check a connection out, ask the server which backend serves it, check it back in."""
    async with engine.connect() as conn:
        return int((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())


async def terminate(admin: AsyncEngine, pid: int) -> bool:
    # The timeout makes the server wait until the backend has actually exited.
    async with admin.connect() as conn:
        statement = sa.text("SELECT pg_terminate_backend(:pid, 5000)")
        return bool((await conn.execute(statement, {"pid": pid})).scalar_one())


async def test_a_connection_reused_within_the_window_is_not_pinged(
    make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(NEVER)
    pings = spy_on_pings(engine, monkeypatch)
    first = await backend_pid(engine)
    second = await backend_pid(engine)
    assert (pings, second) == ([], first)


async def test_a_connection_idle_past_the_window_is_pinged_once(
    make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(SHORT)
    pings = spy_on_pings(engine, monkeypatch)
    first = await backend_pid(engine)
    await asyncio.sleep(PAST_SHORT)
    second = await backend_pid(engine)
    assert (pings, second) == (["alive"], first)


async def test_a_connection_killed_while_idle_is_replaced_without_an_error(
    make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, admin = make_engine(SHORT), make_engine(NEVER)
    pings = spy_on_pings(engine, monkeypatch)
    killed = await backend_pid(engine)
    terminated = await terminate(admin, killed)
    await asyncio.sleep(PAST_SHORT)
    async with engine.connect() as conn:
        one = (await conn.execute(sa.text("SELECT 1"))).scalar_one()
        replacement = int((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())
    assert (terminated, one, pings) == (True, 1, ["failed"])
    assert replacement != killed


async def test_a_connection_killed_within_the_window_fails_its_first_statement(
    make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The price of skipping the ping (HikariCP pays it too): the caller sees the error
    # once (as UnavailableError, persistence.availability), and the invalidated
    # connection is not handed out again.
    engine, admin = make_engine(NEVER), make_engine(NEVER)
    pings = spy_on_pings(engine, monkeypatch)
    killed = await backend_pid(engine)
    await terminate(admin, killed)
    with pytest.raises(UnavailableError) as failure:
        await backend_pid(engine)
    replacement = await backend_pid(engine)
    assert (str(failure.value.__cause__), pings) == ("connection is closed", [])
    assert replacement != killed


async def test_a_zero_window_pings_on_every_checkout(
    make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(0)
    pings = spy_on_pings(engine, monkeypatch)
    pids = {await backend_pid(engine) for _ in range(3)}
    assert (pings, len(pids)) == (["alive", "alive", "alive"], 1)


def test_a_negative_window_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^ping_after_idle_seconds must be >= 0, got -1$"):
        create_engine(POSTGRES_ADMIN_URL, ping_after_idle_seconds=-1)
