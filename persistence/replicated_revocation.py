"""Durable revocations with a copy in every replica: the check asks nobody.

The database (`revocations`) is the truth: a logout is written there first, so losing
Redis's memory cannot bring a revoked token back. Each replica checks tokens against
its own copy in memory (`InMemoryRevocationStore`), kept current two ways:

- the broadcast (Redis pub/sub): a revocation reaches every replica as soon as it is
  published, well within a second while Redis is up;
- a refresh: every `refresh_seconds` (REVOCATION__REFRESH_SECONDS), on the first check
  after the period, a background read of the rows changed since the previous read. It
  bounds the delay while Redis is down, and catches what a broken subscription missed.

Only the first check of a process waits for the database (the initial load); a
database outage after that leaves the copy as it was and is logged as an outage. Rows
whose tokens have expired are deleted every `prune_seconds` by whichever replica
refreshes then.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from domain.errors import DomainError, UnavailableError
from domain.tokens import TokenClaims
from persistence.outages import Outage
from persistence.revocation import FAMILY, JTI, USER, InMemoryRevocationStore, Revocation
from persistence.revocation_broadcast import RedisRevocationBroadcast
from persistence.sql_revocation import SqlRevocations

REFRESH_SECONDS = 5.0
PRUNE_SECONDS = 600.0
CLOSE_PUBLISH_SECONDS = 1.0
# A refresh reads the rows written since the previous read started, less this much: a
# transaction that wrote `revoked_at` a moment before committing, and clocks of
# replicas that disagree by less than this, are still caught.
OVERLAP = timedelta(seconds=60)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ReplicatedRevocationStore:
    """`domain.tokens.TokenRevocationStore` on the database, checked from memory."""

    def __init__(
        self,
        sql: SqlRevocations,
        broadcast: RedisRevocationBroadcast | None = None,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        prune_seconds: float = PRUNE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._sql, self._broadcast = sql, broadcast
        self._refresh_seconds, self._prune_seconds = refresh_seconds, prune_seconds
        self._clock, self._now = clock, now
        self.cache = InMemoryRevocationStore(now=now)
        self._loaded = False
        self._load_lock = asyncio.Lock()
        self._since: datetime | None = None
        self._next_refresh = 0.0
        self._next_prune = clock() + prune_seconds
        self._refreshing: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._publishing: set[asyncio.Task[None]] = set()
        self._closed = False
        self._outage = Outage("database", component="revocation refresh")

    async def start(self) -> None:
        """Load the copy and subscribe, ahead of the first check (a failure waits for it)."""
        with contextlib.suppress(Exception):
            await self._ensure_loaded()
        self._ensure_listening()

    async def aclose(self) -> None:
        self._closed = True
        if self._publishing:
            # A moment for broadcasts in flight; the rest are in the database.
            await asyncio.wait(set(self._publishing), timeout=CLOSE_PUBLISH_SECONDS)
            for publishing in set(self._publishing):
                publishing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await publishing
        for task in (self._listener, self._refreshing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._listener = self._refreshing = None

    # Writes: the database first (raises UnavailableError when it is down), then this
    # replica's copy, then the others (never raises).

    async def revoke(self, jti: str, until: datetime) -> None:
        await self._record(Revocation(JTI, jti, until))

    async def revoke_family(self, family: str, until: datetime) -> None:
        await self._record(Revocation(FAMILY, family, until))

    async def revoke_all_for_user(
        self, user_id: int, issued_before: datetime, until: datetime
    ) -> None:
        await self._record(Revocation(USER, str(user_id), until, cutoff=issued_before))

    async def use_refresh(self, jti: str, family: str, until: datetime) -> bool:
        # Not a hot path (one refresh per access-token lifetime), and it must be atomic
        # across replicas: the database decides.
        return await self._sql.use_refresh(jti, family, until)

    # Reads: this replica's copy.

    async def is_revoked(self, jti: str) -> bool:
        await self._current()
        return await self.cache.is_revoked(jti)

    async def is_family_revoked(self, family: str) -> bool:
        await self._current()
        return await self.cache.is_family_revoked(family)

    async def revoked_before(self, user_id: int) -> datetime | None:
        await self._current()
        return await self.cache.revoked_before(user_id)

    async def is_token_revoked(self, claims: TokenClaims) -> bool:
        # Every request asks: between refreshes, loaded, only the listener is looked at
        # (what `_current` does then, without awaiting a coroutine for it).
        if self._loaded and self._clock() < self._next_refresh:
            self._ensure_listening()
        else:
            await self._current()
        return self.cache.check(claims)

    async def refresh(self) -> None:
        """Read the rows changed since the previous read (all of them the first time);
        prune expired rows when due. A failure is logged as an outage, never raised."""
        with contextlib.suppress(Exception):
            await self._refresh()

    async def refreshing(self) -> None:
        """Wait for a refresh started in the background, if one is running."""
        task = self._refreshing
        if task is not None:
            await task

    async def _record(self, entry: Revocation) -> None:
        if entry.expires_at <= self._now():
            return  # the token is dead already: nothing to remember
        await self._sql.record(entry)
        self.cache.apply(entry)
        if self._broadcast is not None:
            # The answer does not wait for Redis: a hung one held a logout 2.4 s per
            # revocation (socket timeouts and retries). The database has the entry; a
            # broadcast that is lost reaches the others at their next refresh.
            task = asyncio.create_task(self._broadcast.publish(entry), name="revocation-publish")
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)

    async def published(self) -> None:
        """Wait for the broadcasts of this replica's revocations still in flight."""
        while self._publishing:
            await asyncio.gather(*self._publishing)

    async def _current(self) -> None:
        if not self._loaded:
            await self._ensure_loaded()
        elif self._clock() >= self._next_refresh and (
            self._refreshing is None or self._refreshing.done()
        ):
            self._next_refresh = self._clock() + self._refresh_seconds
            self._refreshing = asyncio.create_task(self.refresh(), name="revocation-refresh")
        self._ensure_listening()

    async def _ensure_loaded(self) -> None:
        async with self._load_lock:
            if not self._loaded:
                try:
                    await self._refresh()
                except DomainError:
                    raise
                except Exception as error:  # no token may be let through unchecked
                    raise UnavailableError("the revocation list could not be loaded") from error
                self._loaded = True

    async def _refresh(self) -> None:
        started = self._now()
        self._next_refresh = self._clock() + self._refresh_seconds
        try:
            entries = await self._sql.changed_since(self._since)
            if self._clock() >= self._next_prune:
                self._next_prune = self._clock() + self._prune_seconds
                await self._sql.prune()
        except Exception as error:
            self._outage.failed(error)
            raise
        self._outage.succeeded()
        for entry in entries:
            self.cache.apply(entry)
        since = started - OVERLAP
        self._since = since if self._since is None else max(self._since, since)

    def _ensure_listening(self) -> None:
        if self._broadcast is None or self._closed:
            return
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(
                self._broadcast.listen(self.cache.apply, self.refresh),
                name="revocation-broadcast",
            )
