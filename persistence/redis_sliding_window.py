"""A sliding-window counter hit in Redis that answers with the window: one round trip.

The `limits` library takes a hit (one script) and reads the window's state for the
`RateLimit-*` headers (a second script); over redis-py's asyncio client each round
trip is most of the cost of a cheap request, and a request takes two hits (its
request quota and its GraphQL cost budget). This script does both in one call, on
the same keys, with the same arithmetic as `limits`' `acquire_sliding_window.lua`
followed by its `sliding_window.lua`, so counters written by either are read alike;
and it takes several windows in order, so a GraphQL request's quota and its cost
budget cost one round trip together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

# Times in milliseconds. Per window i (from 0): KEYS[2i+1] previous, KEYS[2i+2] current;
# ARGV[3i+1] limit, ARGV[3i+2] window seconds, ARGV[3i+3] amount (0: only read it).
# Once a window refuses its amount, the later ones are only read: a request refused by
# its request quota spends nothing of its cost budget.
_ACQUIRE_AND_READ = """
local results = {}
local refused = false
for i = 0, #ARGV / 3 - 1 do
    local previous_key, current_key = KEYS[2 * i + 1], KEYS[2 * i + 2]
    local limit = tonumber(ARGV[3 * i + 1])
    local expiry = tonumber(ARGV[3 * i + 2]) * 1000
    local amount = tonumber(ARGV[3 * i + 3])
    if refused then amount = 0 end

    local current_ttl = tonumber(redis.call('pttl', current_key))
    if current_ttl > 0 and current_ttl < expiry then
        -- The current window has ended: it becomes the previous one.
        redis.call('rename', current_key, previous_key)
        redis.call('set', current_key, 0, 'PX', current_ttl + expiry)
    end

    local function window()
        local previous_count = tonumber(redis.call('get', previous_key)) or 0
        local previous_ttl = tonumber(redis.call('pttl', previous_key)) or 0
        local current_count = tonumber(redis.call('get', current_key)) or 0
        local current_ttl = tonumber(redis.call('pttl', current_key)) or 0
        if previous_ttl < 0 then previous_ttl = 0 end
        if current_ttl < 0 then current_ttl = 0 end
        return previous_count, previous_ttl, current_count, current_ttl
    end

    local previous_count, previous_ttl, current_count, current_ttl = window()
    local acquired = 0
    if amount > 0 and amount <= limit then
        local weighted = math.floor(previous_count * previous_ttl / expiry) + current_count
        if weighted + amount <= limit then
            if redis.call('exists', current_key) == 1 then
                redis.call('incrby', current_key, amount)
            else
                redis.call('set', current_key, amount, 'PX', expiry * 2)
            end
            acquired = 1
            previous_count, previous_ttl, current_count, current_ttl = window()
        end
    end
    if amount > 0 and acquired == 0 then refused = true end
    for _, value in ipairs({acquired, previous_count, previous_ttl, current_count, current_ttl}) do
        results[#results + 1] = value
    end
end
return results
"""


@dataclass(frozen=True, slots=True)
class SlidingWindow:
    """A hit's outcome and the window after it (TTLs in seconds, 0 when absent)."""

    acquired: bool
    previous_count: int
    previous_ttl: float
    current_count: int
    current_ttl: float


@dataclass(frozen=True, slots=True)
class WindowHit:
    """One window to hit: its `limits` key, quota and the amount to take (0: only read)."""

    key: str
    limit: int
    window_seconds: int
    amount: int


class RedisSlidingWindow:
    """Sliding-window counters in Redis under `prefix`, keyed as `limits` keys them."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._script = redis.register_script(_ACQUIRE_AND_READ)
        self._prefix = prefix

    def keys(self, key: str) -> list[str]:
        """The previous and current window's keys (braced, as `limits` writes them)."""
        current = f"{self._prefix}:{{{key}}}"
        return [f"{current}/-1", current]

    async def hit(self, key: str, limit: int, window_seconds: int, amount: int) -> SlidingWindow:
        """Take `amount` if the weighted count leaves room (0: only read); raises RedisError."""
        (window,) = await self.hit_all([WindowHit(key, limit, window_seconds, amount)])
        return window

    async def hit_all(self, hits: Sequence[WindowHit]) -> list[SlidingWindow]:
        """Each hit in order, in one round trip; after a refusal the rest are only read.

        Raises RedisError. (On a Redis Cluster the windows' keys would have to share a
        slot; the gateway's client speaks to one Redis, or to Sentinel's primary.)
        """
        keys = [name for hit in hits for name in self.keys(hit.key)]
        args = [
            value for hit in hits for value in (hit.limit, hit.window_seconds, max(0, hit.amount))
        ]
        raw = [int(value) for value in await self._script(keys=keys, args=args)]
        return [
            SlidingWindow(
                raw[at] == 1,
                raw[at + 1],
                raw[at + 2] / 1000,
                raw[at + 3],
                raw[at + 4] / 1000,
            )
            for at in range(0, len(raw), 5)
        ]
