"""A sliding-window counter hit in Redis that answers with the window: one round trip.

The `limits` library takes a hit (one script) and reads the window's state for the
`RateLimit-*` headers (a second script); over redis-py's asyncio client each round
trip is most of the cost of a cheap request, and a request takes two hits (its
request quota and its GraphQL cost budget). This script does both in one call, on
the same keys, with the same arithmetic as `limits`' `acquire_sliding_window.lua`
followed by its `sliding_window.lua`, so counters written by either are read alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

# Times in milliseconds. KEYS: previous window, current window.
# ARGV: limit, window seconds, amount (0: only read the window).
_ACQUIRE_AND_READ = """
local limit = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2]) * 1000
local amount = tonumber(ARGV[3])

local current_ttl = tonumber(redis.call('pttl', KEYS[2]))
if current_ttl > 0 and current_ttl < expiry then
    -- The current window has ended: it becomes the previous one.
    redis.call('rename', KEYS[2], KEYS[1])
    redis.call('set', KEYS[2], 0, 'PX', current_ttl + expiry)
end

local function window()
    local previous_count = tonumber(redis.call('get', KEYS[1])) or 0
    local previous_ttl = tonumber(redis.call('pttl', KEYS[1])) or 0
    local current_count = tonumber(redis.call('get', KEYS[2])) or 0
    local current_ttl = tonumber(redis.call('pttl', KEYS[2])) or 0
    if previous_ttl < 0 then previous_ttl = 0 end
    if current_ttl < 0 then current_ttl = 0 end
    return previous_count, previous_ttl, current_count, current_ttl
end

local previous_count, previous_ttl, current_count, current_ttl = window()
local acquired = 0
if amount > 0 and amount <= limit then
    local weighted = math.floor(previous_count * previous_ttl / expiry) + current_count
    if weighted + amount <= limit then
        if redis.call('exists', KEYS[2]) == 1 then
            redis.call('incrby', KEYS[2], amount)
        else
            redis.call('set', KEYS[2], amount, 'PX', expiry * 2)
        end
        acquired = 1
        previous_count, previous_ttl, current_count, current_ttl = window()
    end
end
return {acquired, previous_count, previous_ttl, current_count, current_ttl}
"""


@dataclass(frozen=True, slots=True)
class SlidingWindow:
    """A hit's outcome and the window after it (TTLs in seconds, 0 when absent)."""

    acquired: bool
    previous_count: int
    previous_ttl: float
    current_count: int
    current_ttl: float


class RedisSlidingWindow:
    """Sliding-window counters in Redis under `prefix`, keyed as `limits` keys them."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._script = redis.register_script(_ACQUIRE_AND_READ)
        self._prefix = prefix

    def keys(self, key: str) -> list[str]:
        """The previous and current window's keys (braced: one Redis Cluster slot)."""
        current = f"{self._prefix}:{{{key}}}"
        return [f"{current}/-1", current]

    async def hit(self, key: str, limit: int, window_seconds: int, amount: int) -> SlidingWindow:
        """Take `amount` if the weighted count leaves room (0: only read); raises RedisError."""
        raw = await self._script(keys=self.keys(key), args=[limit, window_seconds, max(0, amount)])
        acquired, previous_count, previous_ttl, current_count, current_ttl = (
            int(value) for value in raw
        )
        return SlidingWindow(
            acquired == 1,
            previous_count,
            previous_ttl / 1000,
            current_count,
            current_ttl / 1000,
        )
