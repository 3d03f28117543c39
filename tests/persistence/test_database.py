"""Engines: SQLite pragmas and transaction mode, and the readiness ping."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from persistence.database import create_engine, ping
from persistence.statements import count_statements


async def test_sqlite_connections_enforce_foreign_keys_and_use_wal(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            pragmas = [
                (await conn.execute(sa.text(f"PRAGMA {name}"))).scalar_one()
                for name in ("foreign_keys", "journal_mode", "busy_timeout")
            ]
    finally:
        await engine.dispose()
    assert pragmas == [1, "wal", 10_000]


async def test_sqlite_write_transactions_begin_immediate(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    seen: list[str] = []

    @sa.event.listens_for(engine.sync_engine, "before_cursor_execute")
    def record(*args: object) -> None:
        seen.append(str(args[2]))

    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("SELECT 1"))
        read_only = engine.execution_options(gw_read_only=True)
        async with read_only.begin() as conn:
            await conn.execute(sa.text("SELECT 2"))
    finally:
        await engine.dispose()
    assert seen == ["BEGIN IMMEDIATE", "SELECT 1", "BEGIN", "SELECT 2"]


async def test_ping_is_true_for_a_live_database(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        with count_statements(engine) as log:
            alive = await ping(engine, timeout=5)
    finally:
        await engine.dispose()
    assert (alive, log.statements) == (True, ["SELECT 1"])


async def test_ping_is_false_when_the_database_cannot_be_opened(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")
    try:
        assert await ping(engine, timeout=5) is False
    finally:
        await engine.dispose()


async def test_a_sqlite_file_that_cannot_be_opened_leaves_no_driver_thread_behind(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")
    try:
        assert await ping(engine, timeout=5) is False
    finally:
        await engine.dispose()
    # The failed connection's worker thread hands its last result to this test's event
    # loop: one still running once the loop is closed dies with "Event loop is closed",
    # an error pytest then reports in whichever test runs next.
    workers = [t for t in threading.enumerate() if "_connection_worker_thread" in t.name]
    assert workers == []


async def test_ping_is_false_when_postgres_is_unreachable() -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    try:
        assert await ping(engine, timeout=5) is False
    finally:
        await engine.dispose()


def test_other_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database URL scheme 'mysql"):
        create_engine("mysql+aiomysql://localhost/db")
