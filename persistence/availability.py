"""A database that cannot be reached is `UnavailableError`, whoever was asking.

Installed on every engine by `persistence.database.create_engine`: a connection that
cannot be opened, or one lost under a statement, raises `domain.errors.UnavailableError`
(with a retry hint) instead of the driver's error, so every caller (repositories, the
read model, the revocation store) reports an outage the same way, and the one error
table answers it as `UNAVAILABLE` / 503. The outage itself is logged here, once when it
starts, as a summary while it lasts and once when a connection opens again
(`persistence.outages`); callers log nothing more.
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry

from domain.errors import UnavailableError
from persistence.outages import Outage

# The `Retry-After` an outage is answered with: about what a restart or failover takes.
RETRY_AFTER_SECONDS = 5
MESSAGE = "the database is unavailable; try again later"
# Postgres SQLSTATE classes that mean the server cannot serve: 08 connection exception,
# 53 insufficient resources, 57P01-57P03 admin or crash shutdown, cannot connect now.
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P01", "57P02", "57P03")


def _sqlstate(error: BaseException | None) -> str:
    code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return code if isinstance(code, str) else ""


def means_unavailable(error: BaseException) -> bool:
    """Whether a driver's error (or SQLAlchemy's around it) says the server cannot serve."""
    if isinstance(error, OSError):  # TimeoutError is one
        return True
    # The asyncpg adapter keeps the driver's exception as the cause of its own.
    return _sqlstate(error.__cause__).startswith(_UNAVAILABLE_SQLSTATES) or _sqlstate(
        error
    ).startswith(_UNAVAILABLE_SQLSTATES)


def _means_unavailable(context: ExceptionContext) -> bool:
    return context.is_disconnect or means_unavailable(context.original_exception)


# The outage each engine reports to, for the reads that go to the driver itself.
_WATCHED: WeakKeyDictionary[Engine, Outage] = WeakKeyDictionary()


def outage_of(engine: AsyncEngine) -> Outage | None:
    """The outage `engine` reports to (None: `report_outages` was not installed on it)."""
    return _WATCHED.get(engine.sync_engine)


def report_outages(engine: AsyncEngine, outage: Outage | None = None) -> Outage:
    """Make `engine` raise UnavailableError for connection failures; returns its outage."""
    watched = outage or Outage("database", component="queries")
    sync_engine = engine.sync_engine
    _WATCHED[sync_engine] = watched

    @event.listens_for(sync_engine, "do_connect")
    def _connect(dialect: Dialect, _record: ConnectionPoolEntry, cargs: Any, cparams: Any) -> Any:
        try:
            connection = dialect.connect(*cargs, **cparams)
        except Exception as error:
            watched.failed(error)
            raise UnavailableError(MESSAGE, retry_after=RETRY_AFTER_SECONDS) from error
        watched.succeeded()
        return connection

    @event.listens_for(sync_engine, "handle_error")
    def _failed(context: ExceptionContext) -> None:
        original = context.original_exception
        # A cancelled task (SQLAlchemy invalidates its connection as for a disconnect)
        # must stay cancelled; and an UnavailableError is already what it should be.
        if not isinstance(original, Exception) or isinstance(original, UnavailableError):
            return
        if _means_unavailable(context):
            watched.failed(context.original_exception)
            raise UnavailableError(MESSAGE, retry_after=RETRY_AFTER_SECONDS) from (
                context.sqlalchemy_exception or context.original_exception
            )

    return watched
