"""Where cached GraphQL answers are kept: Redis (shared by replicas) or this process.

An entry is a key, the answer's bytes, a time to live and tags (`Item:7`, `Item`);
evicting a tag drops every entry filed under it. A put carries the generation read
before its answer was computed: if any of its tags was evicted since, the answer may
hold what the eviction was about, and it is not stored. That closes the race between
a read that started before a commit and the eviction that follows the commit.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.errors import UnavailableError

DEFAULT_PREFIX = "gateway:cache:"
# How long an eviction is remembered for the puts of answers computed before it: far
# longer than any operation may run (GRAPHQL__EXECUTION_TIMEOUT_SECONDS is at most 300).
EVICTION_MEMORY_SECONDS = 3600


@dataclass(slots=True)
class _Entry:
    value: bytes
    expires: float
    tags: frozenset[str]


class MemoryResponseCacheStore:
    """The embedded default: at most `max_entries` answers, least recently used first out."""

    def __init__(
        self, *, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._by_tag: dict[str, set[str]] = {}
        self._generation = 0
        # tag -> (generation, time) of its last eviction; older ones are forgotten, and a
        # put from before the newest forgotten one is refused (`_floor`).
        self._evicted: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._floor = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def generation(self) -> int:
        return self._generation

    async def lookup(self, key: str) -> tuple[int, bytes | None]:
        entry = self._entries.get(key)
        if entry is None:
            return self._generation, None
        if entry.expires <= self._clock():
            self._drop(key)
            return self._generation, None
        self._entries.move_to_end(key)
        return self._generation, entry.value

    async def put(
        self, key: str, value: bytes, ttl_seconds: int, tags: Collection[str], generation: int
    ) -> bool:
        if generation < self._floor or any(
            self._evicted.get(tag, (0, 0.0))[0] > generation for tag in tags
        ):
            return False
        self._drop(key)
        self._entries[key] = _Entry(value, self._clock() + ttl_seconds, frozenset(tags))
        for tag in tags:
            self._by_tag.setdefault(tag, set()).add(key)
        while len(self._entries) > self._max_entries:
            self._drop(next(iter(self._entries)))
        return True

    async def evict(self, tags: Collection[str]) -> int:
        self._generation += 1
        now = self._clock()
        dropped = 0
        for tag in tags:
            self._evicted[tag] = (self._generation, now)
            self._evicted.move_to_end(tag)
            for key in list(self._by_tag.get(tag, ())):
                dropped += self._drop(key)
        while self._evicted:
            tag, (generation, at) = next(iter(self._evicted.items()))
            if now - at < EVICTION_MEMORY_SECONDS and len(self._evicted) <= self._max_entries:
                break
            del self._evicted[tag]
            self._floor = max(self._floor, generation)
        return dropped

    def _drop(self, key: str) -> int:
        entry = self._entries.pop(key, None)
        if entry is None:
            return 0
        for tag in entry.tags:
            keys = self._by_tag.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_tag[tag]
        return 1


# KEYS: generation counter, entry. ARGV: generation, ttl, value, eviction marks..., then
# the tag sets, as many of each (ARGV[4] says how many).
_PUT = """
local count = tonumber(ARGV[4])
for i = 1, count do
  local evicted = redis.call('GET', ARGV[4 + i])
  if evicted and tonumber(evicted) > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
for i = 1, count do
  local set = ARGV[4 + count + i]
  redis.call('SADD', set, KEYS[2])
  if redis.call('EXPIRE', set, ARGV[2], 'GT') == 0 then redis.call('EXPIRE', set, ARGV[2], 'NX') end
end
return 1
"""

# KEYS: generation counter. ARGV: memory seconds, count, eviction marks..., tag sets...
_EVICT = """
local generation = redis.call('INCR', KEYS[1])
local count = tonumber(ARGV[2])
local dropped = 0
for i = 1, count do
  redis.call('SET', ARGV[2 + i], generation, 'EX', ARGV[1])
  local set = ARGV[2 + count + i]
  local members = redis.call('SMEMBERS', set)
  for j = 1, #members, 500 do
    dropped = dropped + redis.call('DEL', unpack(members, j, math.min(j + 499, #members)))
  end
  redis.call('DEL', set)
end
return dropped
"""


class RedisResponseCacheStore:
    """Answers shared by every replica; each call is one round trip (an MGET for lookups,
    a script for puts and evictions, so the check and the write cannot interleave with
    another's)."""

    def __init__(self, redis: Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._redis = redis
        self._prefix = prefix
        self._put = redis.register_script(_PUT)
        self._evict = redis.register_script(_EVICT)

    async def generation(self) -> int:
        try:
            raw = await self._redis.get(f"{self._prefix}generation")
        except RedisError as exc:
            raise UnavailableError() from exc
        return int(raw or 0)

    async def lookup(self, key: str) -> tuple[int, bytes | None]:
        # One MGET: the generation and the entry in one round trip, read atomically (an
        # eviction lands before both or after both).
        try:
            generation, raw = await self._redis.mget(
                f"{self._prefix}generation", f"{self._prefix}e:{key}"
            )
        except RedisError as exc:
            raise UnavailableError() from exc
        return int(generation or 0), raw.encode() if isinstance(raw, str) else raw

    async def put(
        self, key: str, value: bytes, ttl_seconds: int, tags: Collection[str], generation: int
    ) -> bool:
        ordered = sorted(tags)
        try:
            stored = await self._put(
                keys=[f"{self._prefix}generation", f"{self._prefix}e:{key}"],
                args=[
                    generation,
                    ttl_seconds,
                    value,
                    len(ordered),
                    *(f"{self._prefix}x:{tag}" for tag in ordered),
                    *(f"{self._prefix}t:{tag}" for tag in ordered),
                ],
            )
        except RedisError as exc:
            raise UnavailableError() from exc
        return bool(stored)

    async def evict(self, tags: Collection[str]) -> int:
        ordered = sorted(tags)
        if not ordered:
            return 0
        try:
            dropped = await self._evict(
                keys=[f"{self._prefix}generation"],
                args=[
                    EVICTION_MEMORY_SECONDS,
                    len(ordered),
                    *(f"{self._prefix}x:{tag}" for tag in ordered),
                    *(f"{self._prefix}t:{tag}" for tag in ordered),
                ],
            )
        except RedisError as exc:
            raise UnavailableError() from exc
        return int(dropped)
