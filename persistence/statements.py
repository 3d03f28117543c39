"""Count the SQL statements an engine runs: the guard against N+1 queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.database import BACKGROUND

# Transaction control is not a query: SQLite's BEGIN comes through the cursor (see
# `persistence.database`) while asyncpg's does not, so counting it would make the same
# code cost one statement more on SQLite.
_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@dataclass(slots=True)
class StatementLog:
    """The statements seen so far, in order; executemany counts once."""

    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def count_statements(engine: AsyncEngine | Engine) -> Iterator[StatementLog]:
    """Record every statement `engine` sends while the block runs (any task, any connection),
    except background work's (the outbox relay), which no request waits for."""
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    log = StatementLog()

    def before_cursor_execute(
        conn: Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        if conn.get_execution_options().get(BACKGROUND):
            return
        if not statement.lstrip().upper().startswith(_TRANSACTION_CONTROL):
            log.statements.append(statement)

    event.listen(sync_engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield log
    finally:
        event.remove(sync_engine, "before_cursor_execute", before_cursor_execute)
