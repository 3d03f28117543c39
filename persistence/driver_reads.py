"""Planned reads on Postgres sent to asyncpg itself, on a connection of the engine's pool.

A planned statement is compiled once per plan (its values belong to the plan; only the
caller's id changes between executions), so SQLAlchemy's execution of it (execution
context, cache lookup, parameter processing, result wrapping) is pure overhead: about
100 µs of CPU per statement, a sixth of a read by id (docs/benchmarks/design-notes.md).
Here the read still checks a connection out of the engine's pool (its size, fairness
and ping after idle apply), then hands the compiled text to the driver, whose own
prepared-statement cache keeps the server-side plan.

What SQLAlchemy did around a statement is kept: the engine's cursor events fire (the
statement counters, the N+1 guard and the database spans see the read as any other),
and driver errors mean what the engine's handlers make of them (`persistence.availability`,
the statement timeout): an outage is `UnavailableError` (the connection discarded), a
cancelled statement `TimedOutError`, a value the database refuses the client's error.
A statement whose parameters need SQLAlchemy's processing is not compiled here: the read
model runs it through SQLAlchemy as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type hints
import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import TimedOutError, UnavailableError
from persistence.availability import MESSAGE, RETRY_AFTER_SECONDS, means_unavailable
from persistence.database import QUERY_CANCELED
from persistence.errors import out_of_range
from persistence.outages import Outage


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A compiled statement: its text with `$n` placeholders and the values to send, where
    `caller_at` (if any) is the place of the caller's id, given at each execution."""

    sql: str
    values: tuple[Any, ...]
    caller_at: int | None


def compile_for_driver(
    statement: sa.Select[Any], dialect: Dialect, caller: str
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
    return DriverStatement(str(compiled), values, names.index(caller) if caller in names else None)


async def fetch_text(
    conn: AsyncConnection, statement: DriverStatement, caller_id: int | None, outage: Outage
) -> Any:
    """The first column of the first row `statement` returns (None without a row)."""
    values = list(statement.values)
    if statement.caller_at is not None:
        values[statement.caller_at] = caller_id
    sync = conn.sync_connection
    assert sync is not None  # a connection that is open
    raw = await conn.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    # Stands in for SQLAlchemy's execution context: listeners keep per-statement state
    # on it (the database span).
    context = SimpleNamespace()
    sync.dispatch.before_cursor_execute(sync, None, statement.sql, values, context, False)
    try:
        return await driver.fetchval(statement.sql, *values)
    except Exception as error:
        translated = _translated(error)
        if isinstance(translated, UnavailableError):
            outage.failed(error)
            await conn.invalidate(error)
        raise translated from error
    except BaseException:
        # Cancelled under the statement: the connection may still be busy with it.
        await conn.invalidate()
        raise
    finally:
        sync.dispatch.after_cursor_execute(sync, None, statement.sql, values, context, False)


def _translated(error: Exception) -> Exception:
    code = getattr(error, "sqlstate", None)
    code = code if isinstance(code, str) else ""
    if code == QUERY_CANCELED:  # the statement timeout fired
        return TimedOutError("a database statement")
    if means_unavailable(error) or isinstance(error, asyncpg.ConnectionDoesNotExistError):
        return UnavailableError(MESSAGE, retry_after=RETRY_AFTER_SECONDS)
    if code.startswith("22"):  # a value the column cannot hold (as persistence.errors)
        return out_of_range()
    return error
