"""The database's readiness check: it answers, and is at the migration the code expects."""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.database import ping
from persistence.schema_version import SchemaVersion, current_revision, script_revisions


class DatabaseCheck:
    """The database answers and is at the migration the code expects.

    A database the migrations have not reached fails every query with a missing table or
    column: such a replica must not be sent traffic. A revision the code does not know
    is taken as newer (a migration run for the next release during a rolling deploy)
    and does not make the replica unready.
    """

    def __init__(self, engine: AsyncEngine, timeout: float) -> None:
        self._engine, self._timeout = engine, timeout
        self._known, self._expected = script_revisions()
        self._migrated = False
        self.version: SchemaVersion | None = None

    async def revision(self) -> SchemaVersion:
        """Read the database's revision now; raises the driver's errors if it is down."""
        async with asyncio.timeout(self._timeout):
            current = await current_revision(self._engine)
        self.version = SchemaVersion(current, self._expected, self._known)
        return self.version

    async def __call__(self) -> bool:
        if not await ping(self._engine, timeout=self._timeout):
            return False
        if self._migrated:
            return True
        try:
            version = await self.revision()
        except (TimeoutError, OSError, SQLAlchemyError):
            return False
        self._migrated = not version.behind
        return self._migrated

    def report(self) -> dict[str, str | None] | None:
        """What to tell a probe while the database is behind (None otherwise)."""
        version = self.version
        if version is None or not version.behind or self._migrated:
            return None
        return {"current": version.current, "expected": version.expected, "fix": version.fix()}
