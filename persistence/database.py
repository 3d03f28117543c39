"""Async engines for SQLite (embedded) and PostgreSQL (production), and a readiness ping."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

# Connection execution option marking a read-only transaction (see `_begin_sqlite`).
READ_ONLY = "gw_read_only"
SQLITE_BUSY_TIMEOUT_MS = 10_000


def create_engine(
    url: str,
    *,
    echo: bool = False,
    pool_size: int = 5,
    max_overflow: int = 10,
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
) -> AsyncEngine:
    """An async engine for `sqlite+aiosqlite:///path` or `postgresql+asyncpg://...`."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo, pool_size=pool_size, busy_timeout_ms=busy_timeout_ms)
    if parsed.get_backend_name() == "postgresql":
        return create_async_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=True,
            # JIT pays off for long analytic scans, never for our short statements: the
            # read planner's nested JSON statement (issue 7) runs in ~10 ms and spent over
            # 100 ms more compiling itself, its cost estimate being past jit_above_cost.
            connect_args={"server_settings": {"jit": "off"}},
        )
    raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}")


def _sqlite_engine(url: str, *, echo: bool, pool_size: int, busy_timeout_ms: int) -> AsyncEngine:
    parsed = sa.make_url(url)
    in_memory = parsed.database in (None, "", ":memory:")
    options: dict[str, Any] = {"echo": echo}
    if not in_memory:
        options["pool_size"] = pool_size
    engine = create_async_engine(url, **options)

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take BEGIN away from the driver (it skips it for SELECTs and emits a deferred
        # one for writes); `_begin_sqlite` below emits the right one instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            if not in_memory:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin_sqlite(conn: Connection) -> None:
        # A write transaction takes the write lock up front, so two concurrent writers
        # queue on the busy timeout instead of the second failing with "database is
        # locked" when it upgrades its read lock at the first write or at commit.
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


async def ping(engine: AsyncEngine, timeout: float = 2.0) -> bool:  # noqa: ASYNC109  # readiness probes pass their budget
    """Whether the database answers `SELECT 1` within `timeout` seconds."""
    try:
        async with asyncio.timeout(timeout):
            async with engine.execution_options(**{READ_ONLY: True}).connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
    except (TimeoutError, OSError, sa.exc.SQLAlchemyError):
        return False
    return True
