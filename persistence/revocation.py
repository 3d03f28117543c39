"""Revocations in process memory: what each replica checks a token against.

`InMemoryRevocationStore` implements `domain.tokens.TokenRevocationStore` on its own
(one process, tests) and is the replica's copy inside the durable store
(`persistence.replicated_revocation`), which fills it from the database and the
broadcast with `apply`. Every entry carries the instant after which it is useless (the
revoked token would have expired anyway) and vanishes then, swept in expiry order.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from domain.tokens import TokenClaims

# Kinds of entry: a token, a session (token family), a user's cutoff, a used refresh token.
JTI, FAMILY, USER, USED = "jti", "fam", "user", "used"
# Tokens remembered as found not revoked (one small tuple each); past it the memo starts over.
MAX_REMEMBERED_CLEAR = 10_000


@dataclass(frozen=True, slots=True)
class Revocation:
    """One revocation as stored and broadcast; `cutoff` only for `USER` entries."""

    kind: str
    key: str
    expires_at: datetime
    cutoff: datetime | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _revoked_by_cutoff(claims: TokenClaims, cutoff: datetime | None) -> bool:
    return cutoff is not None and claims.issued_at < cutoff


class InMemoryRevocationStore:
    """Revocations in a dict, for a single process; safe across threads and tasks."""

    def __init__(self, *, now: Callable[[], datetime] = _utcnow) -> None:
        self._now = now
        self._entries: dict[str, tuple[datetime, datetime | None]] = {}
        self._expiry: list[tuple[datetime, str]] = []
        self._lock = threading.Lock()
        # Counts the entries stored. A token found not revoked stays so until an entry is
        # stored (sweeping expired entries only ever clears tokens), so the verdict is
        # remembered with the count it was reached at, by jti, with the very claims
        # object it was reached for (an access token's claims come from the verified
        # tokens' memo, the same object on every request).
        self._stored = 0
        self._clear: dict[str, tuple[TokenClaims, int]] = {}

    def apply(self, entry: Revocation) -> None:
        """Merge an entry read from the database or the broadcast (idempotent)."""
        with self._lock:
            key = f"{entry.kind}:{entry.key}"
            now = self._now()
            self._sweep(now)
            until, cutoff = entry.expires_at, entry.cutoff
            current = self._entries.get(key)
            if current is not None:
                until = max(until, current[0])
                if current[1] is not None:
                    cutoff = current[1] if cutoff is None else max(cutoff, current[1])
            self._store(key, cutoff, until, now)

    def check(self, claims: TokenClaims) -> bool:
        """Whether the token's jti, family or user cutoff revokes it; no I/O."""
        # Without the lock: one dict read and one int read. A revocation stored meanwhile
        # by another thread is as if stored just after this check.
        known = self._clear.get(claims.jti)
        if known is not None and known[0] is claims and known[1] == self._stored:
            return False
        with self._lock:
            self._sweep(self._now())
            entries = self._entries
            user = entries.get(f"user:{claims.subject}")
            revoked = (
                f"jti:{claims.jti}" in entries
                or f"fam:{claims.family}" in entries
                or _revoked_by_cutoff(claims, None if user is None else user[1])
            )
            if not revoked:
                if len(self._clear) >= MAX_REMEMBERED_CLEAR:
                    self._clear.clear()
                self._clear[claims.jti] = (claims, self._stored)
            return revoked

    def __len__(self) -> int:
        """Live entries (after sweeping the expired ones)."""
        with self._lock:
            self._sweep(self._now())
            return len(self._entries)

    async def revoke(self, jti: str, until: datetime) -> None:
        self._put(f"jti:{jti}", None, until)

    async def is_revoked(self, jti: str) -> bool:
        return self._has(f"jti:{jti}")

    async def revoke_family(self, family: str, until: datetime) -> None:
        self._put(f"fam:{family}", None, until)

    async def is_family_revoked(self, family: str) -> bool:
        return self._has(f"fam:{family}")

    async def revoke_all_for_user(
        self, user_id: int, issued_before: datetime, until: datetime
    ) -> None:
        key = f"user:{user_id}"
        with self._lock:
            now = self._now()
            self._sweep(now)
            current = self._entries.get(key)
            if current is not None:
                old_until, old_cutoff = current
                until = max(until, old_until)
                issued_before = max(issued_before, old_cutoff or issued_before)
            self._store(key, issued_before, until, now)

    async def revoked_before(self, user_id: int) -> datetime | None:
        with self._lock:
            self._sweep(self._now())
            entry = self._entries.get(f"user:{user_id}")
            return None if entry is None else entry[1]

    async def use_refresh(self, jti: str, family: str, until: datetime) -> bool:
        with self._lock:
            now = self._now()
            self._sweep(now)
            if f"fam:{family}" in self._entries or f"used:{jti}" in self._entries:
                return False
            self._store(f"used:{jti}", None, until, now)
            return True

    async def is_token_revoked(self, claims: TokenClaims) -> bool:
        return self.check(claims)

    def _put(self, key: str, value: datetime | None, until: datetime) -> None:
        with self._lock:
            now = self._now()
            self._sweep(now)
            current = self._entries.get(key)
            self._store(key, value, until if current is None else max(until, current[0]), now)

    def _has(self, key: str) -> bool:
        with self._lock:
            self._sweep(self._now())
            return key in self._entries

    def _store(self, key: str, value: datetime | None, until: datetime, now: datetime) -> None:
        if until <= now:
            return  # the token is already dead: nothing to remember
        self._entries[key] = (until, value)
        self._stored += 1
        heapq.heappush(self._expiry, (until, key))

    def _sweep(self, now: datetime) -> None:
        # Amortised O(log n) per entry: pop in expiry order; a heap item is stale when
        # the key was re-stored with a later expiry since.
        while self._expiry and self._expiry[0][0] <= now:
            _, key = heapq.heappop(self._expiry)
            entry = self._entries.get(key)
            if entry is not None and entry[0] <= now:
                del self._entries[key]
