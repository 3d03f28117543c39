"""The `revocations` table: the durable record every replica's copy is filled from.

One upsert per revocation (an entry's expiry and a user's cutoff only ever move
forward, whoever writes last), one insert per refresh-token use, one indexed read of
the rows changed since a replica last looked, and a delete of the expired rows. The
same statements on Postgres and SQLite (`INSERT ... ON CONFLICT`, `RETURNING`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.revocation import FAMILY, USED, Revocation
from persistence.tables import REVOCATIONS

_T = REVOCATIONS.c


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SqlRevocations:
    """Reads and writes `revocations` rows; every call is its own short transaction."""

    def __init__(self, engine: AsyncEngine, *, now: Callable[[], datetime] = _utcnow) -> None:
        self._engine = engine
        self._now = now
        self._dialect = engine.dialect.name

    def _insert(self) -> Any:
        module = postgresql if self._dialect == "postgresql" else sqlite
        return module.insert(REVOCATIONS)

    def _greatest(self, *columns: Any) -> Any:
        # SQLite's scalar max() of two or more arguments is Postgres's GREATEST.
        name = "greatest" if self._dialect == "postgresql" else "max"
        return getattr(sa.func, name)(*columns)

    async def record(self, entry: Revocation) -> None:
        """Store a revocation, or push an existing one's expiry and cutoff forward."""
        now = self._now()
        insert = self._insert().values(
            kind=entry.kind,
            key=entry.key,
            cutoff=entry.cutoff,
            expires_at=entry.expires_at,
            revoked_at=now,
        )
        excluded = insert.excluded
        cutoff: Any = excluded.cutoff
        if entry.cutoff is not None:
            cutoff = self._greatest(sa.func.coalesce(_T.cutoff, excluded.cutoff), excluded.cutoff)
        statement = insert.on_conflict_do_update(
            index_elements=[_T.kind, _T.key],
            set_={
                "expires_at": self._greatest(_T.expires_at, excluded.expires_at),
                "cutoff": cutoff,
                "revoked_at": excluded.revoked_at,
            },
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)

    async def use_refresh(self, jti: str, family: str, until: datetime) -> bool:
        """Mark a refresh token used, once; False if it was, or its family is revoked."""
        now = self._now()
        insert = self._insert().values(
            kind=USED, key=jti, cutoff=None, expires_at=until, revoked_at=now
        )
        # A marker left behind by a token that has since expired is taken over.
        statement = insert.on_conflict_do_update(
            index_elements=[_T.kind, _T.key],
            set_={"expires_at": insert.excluded.expires_at, "revoked_at": now},
            where=_T.expires_at <= now,
        ).returning(_T.key)
        family_revoked = sa.select(sa.literal(1)).where(
            _T.kind == FAMILY, _T.key == family, _T.expires_at > now
        )
        async with self._engine.begin() as conn:
            if (await conn.execute(family_revoked)).first() is not None:
                return False
            return (await conn.execute(statement)).first() is not None

    async def changed_since(self, since: datetime | None) -> list[Revocation]:
        """Live revocations (not used-markers) written at or after `since` (all if None)."""
        now = self._now()
        query = sa.select(_T.kind, _T.key, _T.expires_at, _T.cutoff).where(
            _T.expires_at > now, _T.kind != USED
        )
        if since is not None:
            query = query.where(_T.revoked_at >= since)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Revocation(row.kind, row.key, row.expires_at, row.cutoff) for row in rows]

    async def prune(self) -> int:
        """Delete the rows whose tokens are dead anyway; how many went."""
        async with self._engine.begin() as conn:
            result = await conn.execute(sa.delete(REVOCATIONS).where(_T.expires_at <= self._now()))
        return int(result.rowcount or 0)
