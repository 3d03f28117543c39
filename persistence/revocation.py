"""Token revocation stores: in-process (one replica, embedded mode) and Redis (shared).

Both implement `domain.tokens.TokenRevocationStore`. Every entry carries the instant
after which it is useless (the revoked token would have expired anyway) and vanishes
then: Redis expires the key at that instant, the in-process store sweeps in expiry order.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from domain.tokens import TokenClaims

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _from_micros(value: int) -> datetime:
    return _EPOCH + value * _MICROSECOND


def _revoked_by_cutoff(claims: TokenClaims, cutoff: datetime | None) -> bool:
    return cutoff is not None and claims.issued_at < cutoff


class InMemoryRevocationStore:
    """Revocations in a dict, for a single process; safe across threads and tasks."""

    def __init__(self, *, now: Callable[[], datetime] = _utcnow) -> None:
        self._now = now
        self._entries: dict[str, tuple[datetime, datetime | None]] = {}
        self._expiry: list[tuple[datetime, str]] = []
        self._lock = threading.Lock()

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
        with self._lock:
            self._sweep(self._now())
            entries = self._entries
            user = entries.get(f"user:{claims.subject}")
            return (
                f"jti:{claims.jti}" in entries
                or f"fam:{claims.family}" in entries
                or _revoked_by_cutoff(claims, None if user is None else user[1])
            )

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
        heapq.heappush(self._expiry, (until, key))

    def _sweep(self, now: datetime) -> None:
        # Amortised O(log n) per entry: pop in expiry order; a heap item is stale when
        # the key was re-stored with a later expiry since.
        while self._expiry and self._expiry[0][0] <= now:
            _, key = heapq.heappop(self._expiry)
            entry = self._entries.get(key)
            if entry is not None and entry[0] <= now:
                del self._entries[key]


# KEYS[1] user key; ARGV[1] cutoff (microseconds), ARGV[2] expiry (unix ms).
# The cutoff and the expiry only ever move forward, whichever replica writes last.
_REVOKE_ALL = """
local cutoff = tonumber(ARGV[1])
local expire_at = tonumber(ARGV[2])
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) > cutoff then cutoff = tonumber(current) end
local current_expiry = redis.call('PEXPIRETIME', KEYS[1])
if current_expiry > expire_at then expire_at = current_expiry end
redis.call('SET', KEYS[1], string.format('%d', cutoff), 'PXAT', expire_at)
return 1
"""

# KEYS[1] used-marker of the refresh jti, KEYS[2] its family; ARGV[1] expiry (unix ms).
_USE_REFRESH = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('SET', KEYS[1], '1', 'NX', 'PXAT', ARGV[1]) then return 1 end
return 0
"""


def _unix_ms(moment: datetime) -> int:
    # PXAT must be positive; an instant already past is kept for a millisecond.
    return max(1, -(-_micros(moment) // 1000))


class RedisRevocationStore:
    """Revocations in Redis, shared by every replica; keys expire with the tokens."""

    def __init__(self, redis: Redis, prefix: str = "gw:revoked") -> None:
        self._redis = redis
        self._prefix = prefix
        self._revoke_all = redis.register_script(_REVOKE_ALL)
        self._use_refresh = redis.register_script(_USE_REFRESH)

    def _key(self, kind: str, value: str | int) -> str:
        return f"{self._prefix}:{kind}:{value}"

    async def revoke(self, jti: str, until: datetime) -> None:
        await self._extend(self._key("jti", jti), until)

    async def is_revoked(self, jti: str) -> bool:
        return bool(await self._redis.exists(self._key("jti", jti)))

    async def revoke_family(self, family: str, until: datetime) -> None:
        await self._extend(self._key("fam", family), until)

    async def is_family_revoked(self, family: str) -> bool:
        return bool(await self._redis.exists(self._key("fam", family)))

    async def revoke_all_for_user(
        self, user_id: int, issued_before: datetime, until: datetime
    ) -> None:
        await self._revoke_all(
            keys=[self._key("user", user_id)], args=[_micros(issued_before), _unix_ms(until)]
        )

    async def revoked_before(self, user_id: int) -> datetime | None:
        value = await self._redis.get(self._key("user", user_id))
        return None if value is None else _from_micros(int(value))

    async def use_refresh(self, jti: str, family: str, until: datetime) -> bool:
        result = await self._use_refresh(
            keys=[self._key("used", jti), self._key("fam", family)], args=[_unix_ms(until)]
        )
        return bool(result)

    async def is_token_revoked(self, claims: TokenClaims) -> bool:
        keys = [
            self._key("jti", claims.jti),
            self._key("fam", claims.family),
            self._key("user", claims.subject),
        ]
        jti, family, cutoff = await self._redis.mget(keys)
        return (
            jti is not None
            or family is not None
            or _revoked_by_cutoff(claims, None if cutoff is None else _from_micros(int(cutoff)))
        )

    async def _extend(self, key: str, until: datetime) -> None:
        # Set the marker, then push its expiry forward only (GT): revoking twice must not
        # shorten an earlier, longer revocation.
        expire_at = _unix_ms(until)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(key, "1", nx=True, pxat=expire_at)
            pipe.pexpireat(key, expire_at, gt=True)
            await pipe.execute()
