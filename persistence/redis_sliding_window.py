"""A sliding-window counter hit in Redis that answers with the window: one round trip.

The `limits` library takes a hit (one script) and reads the window's state for the
`RateLimit-*` headers (a second script); over redis-py's asyncio client each round
trip is most of the cost of a cheap request, and a request takes two hits (its
request quota and its GraphQL cost budget). This script does both in one call, on
the same keys, with the same arithmetic as `limits`' `acquire_sliding_window.lua`
followed by its `sliding_window.lua`, so counters written by either are read alike;
and it takes several windows in order, so a GraphQL request's quota and its cost
budget cost one round trip together.

For local reservations (gateway/limits/reservations.py) a hit can ask for more than it
needs: it takes `amount` when the window has room for it, otherwise as much as there is
room for if that is at least `minimum`, otherwise nothing. It can also give back units
an earlier call reserved and nobody spent (`refund`), to the window they were counted
in, named by its end time (`window_end`, Redis's clock, ms): the current window, the
previous one, or, when that has gone, nowhere.

Windows roll by the keys' expiry times, read and written as instants (PEXPIRETIME,
PXAT) against one clock: Redis's own (`TIME`), shared by every replica, unless the
adapter is given one (tests move time instead of waiting for a window's edge).
PEXPIRETIME needs Redis 7.0 or later.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from redis.asyncio import Redis

from domain.sliding_windows import SlidingWindow, WindowHit

# Times in milliseconds. ARGV[1]: the time now ('': Redis's clock). Per window i (from
# 0): KEYS[2i+1] previous, KEYS[2i+2] current; ARGV[6i+2] limit, ARGV[6i+3] window
# seconds, ARGV[6i+4] amount (0: only read it), ARGV[6i+5] minimum, ARGV[6i+6] units to
# give back, ARGV[6i+7] the end of the window they were counted in. Once a window
# refuses its minimum, the later ones are only read: a request refused by its request
# quota spends nothing of its cost budget.
# Answers six numbers per window: units taken, the previous window's count and TTL,
# the current one's, and the current window's end (0 when it has no key).
# A key's TTL is its expiry instant less `now` (on Redis's clock, its PTTL); a key whose
# instant has passed on the given clock counts as gone, as Redis would have let it go.
_ACQUIRE_AND_READ = """
local results = {}
local refused = false
local now = tonumber(ARGV[1])
if now == nil then
    local clock = redis.call('time')
    now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
end

local function ttl(key)
    local at = tonumber(redis.call('pexpiretime', key))
    if at < 0 then return at end
    if at <= now then
        redis.call('del', key)
        return -2
    end
    return at - now
end

for i = 0, (#ARGV - 1) / 6 - 1 do
    local previous_key, current_key = KEYS[2 * i + 1], KEYS[2 * i + 2]
    local limit = tonumber(ARGV[6 * i + 2])
    local expiry = tonumber(ARGV[6 * i + 3]) * 1000
    local amount = tonumber(ARGV[6 * i + 4])
    local minimum = tonumber(ARGV[6 * i + 5])
    local refund = tonumber(ARGV[6 * i + 6])
    local refund_end = tonumber(ARGV[6 * i + 7])
    if refused then amount = 0 end

    local current_ttl = ttl(current_key)
    if current_ttl > 0 and current_ttl < expiry then
        -- The current window has ended: it becomes the previous one.
        redis.call('rename', current_key, previous_key)
        redis.call('set', current_key, 0, 'PXAT', now + current_ttl + expiry)
        current_ttl = current_ttl + expiry
    end

    if refund > 0 and current_ttl > 0 then
        -- Windows' ends are at least a window apart: half a window tells them apart.
        local current_end = now + current_ttl - expiry
        local target = nil
        if math.abs(refund_end - current_end) < expiry / 2 then
            target = current_key
        elseif math.abs(refund_end - (current_end - expiry)) < expiry / 2 then
            target = previous_key
        end
        if target and ttl(target) > 0 then
            local count = tonumber(redis.call('get', target)) or 0
            if count > 0 then redis.call('decrby', target, math.min(refund, count)) end
        end
    end

    local function window()
        local previous_ttl = ttl(previous_key)
        local current_ttl = ttl(current_key)
        local previous_count = tonumber(redis.call('get', previous_key)) or 0
        local current_count = tonumber(redis.call('get', current_key)) or 0
        if previous_ttl < 0 then previous_ttl = 0 end
        if current_ttl < 0 then current_ttl = 0 end
        return previous_count, previous_ttl, current_count, current_ttl
    end

    local previous_count, previous_ttl, current_count, current_ttl = window()
    local taken = 0
    if amount > 0 and minimum <= limit then
        local weighted = math.floor(previous_count * previous_ttl / expiry) + current_count
        local room = limit - weighted
        if minimum <= room then
            taken = math.min(amount, room)
            if redis.call('exists', current_key) == 1 then
                redis.call('incrby', current_key, taken)
            else
                redis.call('set', current_key, taken, 'PXAT', now + expiry * 2)
            end
            previous_count, previous_ttl, current_count, current_ttl = window()
        end
    end
    if amount > 0 and taken == 0 then refused = true end
    local window_end = 0
    if current_ttl > 0 then window_end = now + current_ttl - expiry end
    for _, value in ipairs({taken, previous_count, previous_ttl, current_count, current_ttl,
                            window_end}) do
        results[#results + 1] = value
    end
end
return results
"""


def _arguments(hit: WindowHit) -> tuple[int, int, int, int, int, int]:
    """A hit as the script's six arguments."""
    amount = max(0, hit.amount)
    minimum = amount if hit.minimum is None else max(1, min(amount, hit.minimum))
    refund = max(0, hit.refund)
    return (hit.limit, hit.window_seconds, amount, minimum, refund, hit.refund_window_end)


class RedisSlidingWindow:
    """Sliding-window counters in Redis under `prefix`, keyed as `limits` keys them
    (`domain.sliding_windows.SlidingWindows`)."""

    def __init__(self, redis: Redis, prefix: str, clock: Callable[[], float] | None = None) -> None:
        """`clock` (seconds): the windows' time instead of Redis's own (tests). Keys
        expire in Redis at instants on that clock, so it must not fall behind the real
        time: a key would be gone before its time on the clock."""
        self._script = redis.register_script(_ACQUIRE_AND_READ)
        self._prefix = prefix
        self._clock = clock

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
        now = "" if self._clock is None else round(self._clock() * 1000)
        args: list[str | int] = [now, *(value for hit in hits for value in _arguments(hit))]
        raw = [int(value) for value in await self._script(keys=keys, args=args)]
        return [
            SlidingWindow(
                raw[at] > 0,
                raw[at + 1],
                raw[at + 2] / 1000,
                raw[at + 3],
                raw[at + 4] / 1000,
                raw[at],
                raw[at + 5],
            )
            for at in range(0, len(raw), 6)
        ]
