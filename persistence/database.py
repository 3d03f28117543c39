"""Async engines for SQLite (embedded) and PostgreSQL (production), and a readiness ping."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from weakref import WeakKeyDictionary

import aiosqlite
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.util.concurrency import await_, in_greenlet

from domain.errors import TimedOutError, UnavailableError
from persistence.availability import report_outages
from persistence.fair_pool import FairAsyncQueuePool
from persistence.json_sqlite import register_functions

# Connection execution option marking a read-only transaction (see `_begin_sqlite`).
READ_ONLY = "gw_read_only"
# Connection execution option: on SQLite, no transaction at all; each statement reads
# its own snapshot, as autocommit reads do on Postgres (see `_begin_sqlite`).
NO_TRANSACTION = "gw_no_transaction"
# Connection execution option marking work no request waits for (the outbox relay):
# `persistence.statements` leaves it out of a request's statement count.
BACKGROUND = "gw_background"
SQLITE_BUSY_TIMEOUT_MS = 10_000
PING_AFTER_IDLE_SECONDS = 1.0
# Key in a pool entry's `info`: `time.monotonic()` when its connection was opened or last returned.
_LAST_USED = "gw_last_used"


def create_engine(
    url: str,
    *,
    echo: bool = False,
    pool_size: int = 5,
    max_overflow: int = 0,
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    ping_after_idle_seconds: float = PING_AFTER_IDLE_SECONDS,
    statement_timeout_seconds: float | None = None,
) -> AsyncEngine:
    """An async engine for `sqlite+aiosqlite:///path` or `postgresql+asyncpg://...`.

    On PostgreSQL, with `statement_timeout_seconds`, the server cancels a statement
    running longer and it raises TimedOutError (migrations and the seed pass none).
    Raises ValueError for another scheme or a negative `ping_after_idle_seconds`.
    """
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo, pool_size=pool_size, busy_timeout_ms=busy_timeout_ms)
    if parsed.get_backend_name() == "postgresql":
        if ping_after_idle_seconds < 0:
            raise ValueError(f"ping_after_idle_seconds must be >= 0, got {ping_after_idle_seconds}")
        engine = create_async_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=max_overflow,
            # Waiters for a connection are served in order (see persistence.fair_pool).
            poolclass=FairAsyncQueuePool,
            # The connection returned last goes out next: light traffic keeps one backend
            # busy, its caches warm, instead of taking the whole pool in turn. At the
            # nested query's knee, alternated: 3-8% less Postgres CPU a request, 5-11%
            # more requests (docs/benchmarks/design-notes.md, "The pool's last
            # connection first").
            pool_use_lifo=True,
            # JIT pays off for long analytic scans, never for our short statements: it
            # made the planner's nested statement ten times slower (design-notes.md).
            connect_args={"server_settings": {"jit": "off"}},
        )
        _ping_after_idle(engine, ping_after_idle_seconds)
        _statement_timeouts(engine, statement_timeout_seconds)
        report_outages(engine)
        return engine
    raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}")


# SQLSTATE 57014 query_canceled: the statement timeout fired (or an operator cancelled it).
QUERY_CANCELED = "57014"


def _statement_timeouts(engine: AsyncEngine, seconds: float | None) -> None:
    if seconds is not None:
        # Milliseconds; at least 1, since 0 would turn the timeout off.
        limit = max(1, round(seconds * 1000))

        # Set once the connection is ready, not as a startup parameter: what the driver
        # and the dialect send to set a connection up is not the application's to bound.
        @event.listens_for(engine.sync_engine, "connect")
        def _limit(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
            driver = dbapi_connection.driver_connection
            # asyncpg introspects an array type the first time a statement on the
            # connection binds one (the repositories' `= ANY($1)` of ids), with a recursive
            # catalog query, the costliest of a connection's life. Under the timeout a
            # loaded server cancelled it, and a request that reached a new connection
            # there answered TIMEOUT (a dataloader's field null beside the error).
            await_(driver.fetchval("SELECT $1::int4[]", None))
            # On the driver itself: outside the transaction the adapter would open, whose
            # rollback at check-in would undo the setting.
            await_(driver.execute(f"SET statement_timeout = {limit}"))

    @event.listens_for(engine.sync_engine, "handle_error")
    def _cancelled(context: ExceptionContext) -> None:
        original = context.original_exception
        if not isinstance(original, Exception):
            return  # a cancelled task stays cancelled
        code = getattr(original.__cause__, "sqlstate", None) or getattr(original, "sqlstate", None)
        if code == QUERY_CANCELED:
            raise TimedOutError("a database statement") from (
                context.sqlalchemy_exception or original
            )


# Each engine's ping window (`_ping_after_idle`), for `pings_on_checkout`.
_PING_WINDOWS: WeakKeyDictionary[sa.Engine, float] = WeakKeyDictionary()


def pings_on_checkout(engine: sa.Engine, entry: ConnectionPoolEntry) -> bool:
    """Whether checking `entry` out of `engine`'s pool now would ping it (awaiting the
    driver); True for an engine `create_engine` did not make."""
    window = _PING_WINDOWS.get(engine)
    return window is None or _due(entry, window)


def _due(entry: ConnectionPoolEntry, window: float) -> bool:
    last_used: float = entry.info.get(_LAST_USED, 0.0)
    return time.monotonic() - last_used >= window


def _ping_after_idle(engine: AsyncEngine, window: float) -> None:
    # Instead of `pool_pre_ping`, which pings on every checkout: the asyncpg dialect's
    # ping is three round trips, a large share of a trivial request (design-notes.md).
    # Like HikariCP's aliveBypassWindowMs, a connection back in the pool
    # less than `window` seconds ago is handed out unpinged: it was just seen working.
    # The price is that one killed within the window fails its caller's first
    # statement (and is then invalidated) instead of being replaced silently.
    _PING_WINDOWS[engine.sync_engine] = window

    @event.listens_for(engine.sync_engine, "connect")
    def _connected(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_LAST_USED] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_LAST_USED] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(
        dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        # Outside a greenlet, only a planned read checks out, having seen no ping due
        # (`pings_on_checkout`); the microseconds since cannot make one worth a lost
        # connection (the ping could not await the driver here).
        if not _due(record, window) or not in_greenlet():
            return
        try:
            # Runs in the pool's greenlet, so the dialect may await the driver here.
            engine.dialect.do_ping(dbapi_connection)
        except (engine.dialect.loaded_dbapi.Error, OSError) as exc:
            # The documented way to refuse a connection on checkout: the pool discards
            # it and retries with a new one, so the caller never sees this error.
            raise sa.exc.DisconnectionError(f"connection failed its ping: {exc}") from exc


def _sqlite_engine(url: str, *, echo: bool, pool_size: int, busy_timeout_ms: int) -> AsyncEngine:
    parsed = sa.make_url(url)
    in_memory = parsed.database in (None, "", ":memory:")
    # The dialect's own hook for opening the driver's connection (what `async_creator`
    # sets), given here through the connect arguments so that `do_connect` listeners
    # (`report_outages`) still see every attempt.
    options: dict[str, Any] = {"echo": echo, "connect_args": {"async_creator_fn": _open_sqlite}}
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
        # base64 and ASCII-only JSON for the read model, which SQLite lacks.
        register_functions(dbapi_connection)

    @event.listens_for(engine.sync_engine, "begin")
    def _begin_sqlite(conn: Connection) -> None:
        # A write transaction takes the write lock up front, so two concurrent writers
        # queue on the busy timeout instead of the second failing with "database is
        # locked" when it upgrades its read lock at the first write or at commit.
        options = conn.get_execution_options()
        if options.get(NO_TRANSACTION):
            # The driver is in autocommit (isolation_level None above): without a
            # BEGIN, each statement is its own transaction. It spares the BEGIN's three
            # round trips to aiosqlite's thread (cursor, execute, close).
            return
        if options.get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    report_outages(engine)
    return engine


async def _open_sqlite(*args: Any, **options: Any) -> aiosqlite.Connection:
    """An aiosqlite connection, as the dialect opens one; after a failure to open, only
    once its worker thread has ended."""
    connection = aiosqlite.connect(*args, **options)
    # As the dialect does: an open connection's thread never holds up the interpreter's exit.
    worker = connection._thread
    worker.daemon = True
    try:
        return await connection
    except BaseException:
        # aiosqlite stops the worker without waiting, and the worker then hands its last
        # result to this event loop: a loop closed first (a test's, at shutdown) kills that
        # thread with "Event loop is closed", reported wherever the process is by then.
        await asyncio.to_thread(worker.join)
        raise


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


async def ping(engine: AsyncEngine, timeout: float = 2.0) -> bool:  # noqa: ASYNC109  # readiness probes pass their budget
    """Whether the database answers `SELECT 1` within `timeout` seconds."""
    try:
        async with asyncio.timeout(timeout):
            async with engine.execution_options(**{READ_ONLY: True}).connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
    except (TimeoutError, OSError, sa.exc.SQLAlchemyError, UnavailableError):
        return False
    return True
