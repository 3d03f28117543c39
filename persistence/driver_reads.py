"""Planned reads on Postgres sent to asyncpg itself, on a connection of the engine's pool.

A planned statement is compiled once per plan (its values belong to the plan; only the
caller's id changes between executions), so SQLAlchemy's execution of it (execution
context, cache lookup, parameter processing, result wrapping) is pure overhead: about
100 µs of CPU per statement, a sixth of a read by id (docs/benchmarks/design-notes.md).
Here the read still checks a connection out of the engine's pool (its size, fairness,
ping after idle and checkout/checkin events apply), then hands the compiled text to the
driver, whose own prepared-statement cache keeps the server-side plan. It checks the
connection out from the pool itself rather than through `AsyncEngine.connect()`: the
async `Connection` around it (two more greenlet runs, the isolation level set and reset)
cost as much Python as the statement (docs/benchmarks/design-notes.md).

What SQLAlchemy did around a statement is kept: the engine's cursor events fire (the
statement counters, the N+1 guard and the database spans see the read as any other),
and driver errors mean what the engine's handlers make of them (`persistence.availability`,
the statement timeout): an outage is `UnavailableError` (the connection discarded), a
cancelled statement `TimedOutError`, a value the database refuses the client's error.
A statement whose parameters need SQLAlchemy's processing is not compiled here: the read
model runs it through SQLAlchemy as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type hints
import sqlalchemy as sa
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.util.concurrency import greenlet_spawn

from domain.errors import TimedOutError, UnavailableError
from persistence.availability import MESSAGE, RETRY_AFTER_SECONDS, means_unavailable
from persistence.database import QUERY_CANCELED, pings_on_checkout
from persistence.errors import out_of_range
from persistence.fair_pool import FairAsyncQueuePool
from persistence.outages import Outage


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A compiled statement: its text with `$n` placeholders and the values to send, where
    `caller_at` (if any) is the place of the caller's id, given at each execution, and
    `key_at` (if any) the place of a by-id root's key (its value in `values` the plan's,
    replaced by the read model for an execution that gives another), `key_type` the
    Postgres integer type of that key when keys may go several in one statement
    (`persistence.coalesced_reads`)."""

    sql: str
    values: tuple[Any, ...]
    caller_at: int | None
    key_at: int | None = None
    key_type: str | None = None

    def keyed(self, key: Any) -> DriverStatement:
        """This statement with `key` (one key, or the array a batch sends) in the key's
        place; raises ValueError for a statement that takes none."""
        if self.key_at is None:
            raise ValueError("a key for a statement that takes none")
        values = list(self.values)
        values[self.key_at] = key
        return replace(self, values=tuple(values))


def compile_for_driver(
    statement: sa.Select[Any], dialect: Dialect, caller: str, key: str | None = None
) -> DriverStatement | None:
    """`statement` as asyncpg takes it, or None when a parameter needs SQLAlchemy (an
    expanding or literal-rendered one, or a type with its own bind processing)."""
    compiled = statement.compile(dialect=dialect)
    names = compiled.positiontup
    if names is None:
        return None
    for name in names:
        bind = compiled.binds.get(name)
        if bind is None or bind.expanding or bind.literal_execute:
            return None
        if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
            return None
    params = compiled.construct_params({caller: None})
    values = tuple(None if name == caller else params[name] for name in names)
    key_at = names.index(key) if key is not None and key in names else None
    return DriverStatement(
        str(compiled),
        values,
        names.index(caller) if caller in names else None,
        key_at,
        None if key_at is None else _integer_type(compiled.binds[names[key_at]].type),
    )


def _integer_type(column_type: sa.types.TypeEngine[Any]) -> str | None:
    """The Postgres name of an integer key's type; None for a key of another type."""
    if isinstance(column_type, sa.SmallInteger):
        return "int2"
    if isinstance(column_type, sa.BigInteger):
        return "int8"
    if isinstance(column_type, sa.Integer):
        return "int4"
    return None


class DriverReads:
    """Runs compiled statements on connections of one engine's pool, through asyncpg."""

    def __init__(self, engine: AsyncEngine, outage: Outage) -> None:
        self._engine = engine.sync_engine
        self._outage = outage
        pool = self._engine.pool
        self._pool = pool if isinstance(pool, FairAsyncQueuePool) else None

    async def fetch(
        self, statements: Sequence[DriverStatement], caller_id: int | None
    ) -> list[Any]:
        """The first column of the first row of each statement (None without a row), run
        in order on one pooled connection; raises UnavailableError, TimedOutError,
        ValidationError (a value the database refuses)."""
        engine = self._engine
        pool = self._pool
        entry = self._ready()
        pooled: PoolProxiedConnection | None = None
        if entry is not None:
            assert pool is not None  # ready only with the fair pool
            # Lent: checked out and in without a greenlet and without a new proxy.
            proxy = pool.lend(entry)
        else:
            try:
                # In a greenlet: the pool may wait for a free connection, open one or ping it.
                pooled = proxy = await greenlet_spawn(engine.raw_connection)
            except engine.dialect.loaded_dbapi.Error as error:  # the dialect's first queries
                raise self._translated(error) from error
        conn = _Listened(engine, proxy)
        driver: asyncpg.Connection = proxy.driver_connection
        dispatch = engine.dispatch
        texts: list[Any] = []
        try:
            for statement in statements:
                values = list(statement.values)
                if statement.caller_at is not None:
                    values[statement.caller_at] = caller_id
                sql = statement.sql
                # Stands in for SQLAlchemy's execution context: listeners keep
                # per-statement state on it (the database span).
                context = SimpleNamespace()
                dispatch.before_cursor_execute(conn, None, sql, values, context, False)
                try:
                    texts.append(await driver.fetchval(sql, *values))
                except Exception as error:
                    raise self._translated(error, closed=driver.is_closed()) from error
                finally:
                    dispatch.after_cursor_execute(conn, None, sql, values, context, False)
        except UnavailableError as error:
            # Lost: not handed out again.
            await greenlet_spawn(_invalidated, pool, pooled, entry, error.__cause__)
            raise
        except Exception:
            if entry is not None:
                _given_back(pool, entry)  # nothing to await: see below
            else:
                assert pooled is not None
                await greenlet_spawn(pooled.close)
            raise
        except BaseException:
            # Cancelled under a statement: the connection may still be busy with it.
            await greenlet_spawn(_invalidated, pool, pooled, entry, None)
            raise
        # Without a greenlet: giving back a connection the driver has just answered on
        # awaits nothing (no transaction to roll back: the reads never begin one; the
        # checkin listeners and the queue are synchronous).
        if entry is not None:
            _given_back(pool, entry)
        else:
            assert pooled is not None
            pooled.close()
        return texts

    def _ready(self) -> ConnectionPoolEntry | None:
        """The pool's entry to lend without a greenlet when it has one ready that needs no
        ping (the pool's checkout, events and bookkeeping as always); else None.

        Two greenlet runs (checkout and checkin) were a tenth of a read by id
        (docs/benchmarks/design-notes.md); a checkout that must wait, connect or ping
        still takes one."""
        pool = self._pool
        if pool is None or not pool.lends:
            return None
        entry = pool.ready()
        if entry is None or pings_on_checkout(self._engine, entry):
            return None
        return entry

    def _translated(self, error: Exception, *, closed: bool = False) -> Exception:
        translated = _translated(error, closed)
        if isinstance(translated, UnavailableError):
            self._outage.failed(error)
        return translated


class _Listened:
    """What the cursor-event listeners are handed for a read, in place of a `Connection`
    (whose construction, events joined and `engine_connect` fired, cost as much as a
    greenlet run): the listeners read its execution options (the engine's: the reads
    set none), and its `connection` is the pooled connection the read runs on."""

    __slots__ = ("connection", "engine")

    def __init__(self, engine: Engine, connection: PoolProxiedConnection) -> None:
        self.engine = engine
        self.connection = connection

    def get_execution_options(self) -> Mapping[str, Any]:
        return self.engine.get_execution_options()


def _given_back(pool: FairAsyncQueuePool | None, entry: ConnectionPoolEntry) -> None:
    assert pool is not None  # entries are lent by the fair pool only
    pool.give_back(entry)


def _invalidated(
    pool: FairAsyncQueuePool | None,
    pooled: PoolProxiedConnection | None,
    entry: ConnectionPoolEntry | None,
    error: BaseException | None,
) -> None:
    """Close a connection for good and check it in (reconnected at its next checkout);
    in a greenlet."""
    if pooled is not None:
        pooled.invalidate(error)
        return
    assert pool is not None  # lent by the fair pool
    assert entry is not None
    pool.discard_lent(entry, error)


def _translated(error: Exception, closed: bool) -> Exception:
    code = getattr(error, "sqlstate", None)
    code = code if isinstance(code, str) else ""
    if code == QUERY_CANCELED:  # the statement timeout fired
        return TimedOutError("a database statement")
    # Any error on a connection the driver has seen closed is the connection's loss, as
    # the asyncpg dialect's `is_disconnect` decides (the server's goodbye may arrive
    # before the statement is sent: "connection is closed").
    if closed or means_unavailable(error) or isinstance(error, asyncpg.ConnectionDoesNotExistError):
        return UnavailableError(MESSAGE, retry_after=RETRY_AFTER_SECONDS)
    if code.startswith("22"):  # a value the column cannot hold (as persistence.errors)
        return out_of_range()
    return error
