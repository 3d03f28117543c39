"""Rate limiting on the `limits` library: quotas, decisions and a storage that fails soft.

Counters live in Redis when `REDIS__URL` is set, so every replica shares them, and in
process memory otherwise. When Redis fails at run time the limiter, by setting,
counts in process memory for a while (`memory`, the default: a Redis hiccup must not
take the API down), lets everything through (`open`) or refuses everything (`closed`);
it reports the outage (`domain.outages.OutageReport`: the composition root's logs it
when it starts, as a summary while it lasts and when it ends), and tries Redis again
after `storage_retry_seconds`.

Back on Redis, no burst gets through: every hit Redis grants is also counted in this
process's memory (a few microseconds), and a hit over the quota there is refused too.
So what this replica counted while Redis was down, and what a Redis restarted without
persistence forgot, still counts against the caller for the rest of the window. Memory
only ever holds this replica's own hits, so it refuses nothing Redis would have let
through while Redis keeps its counters. What stays open: the counts of the *other*
replicas that a Redis restart without persistence loses (up to one quota per replica
for the rest of that window).
"""

from __future__ import annotations

import asyncio
import enum
import functools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Literal, NamedTuple, cast

import limits
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import (
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.errors import StorageError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.outages import OutageReport, UnreportedOutage
from domain.sliding_windows import SlidingWindow, SlidingWindows, WindowHit
from gateway.limits.memory_windows import MemorySlidingWindow
from gateway.limits.reservations import Claim, Reservations
from gateway.settings import RateLimitSettings

type FailureMode = Literal["memory", "open", "closed"]


class Strategy(enum.Enum):
    # Two counters per key, approximate at window edges: cheap for high quotas.
    SLIDING = "sliding-window-counter"
    # One timestamp per allowed hit, exact: for small quotas such as login attempts.
    MOVING = "moving-window"


# Quota, Decision and Hit are named tuples, not frozen dataclasses: a few are made and
# hashed on every request, and a frozen dataclass's __init__ and __hash__ run in Python
# (~1 µs to make one; docs/benchmarks/design-notes.md).
class Quota(NamedTuple):
    """`amount` per `window` seconds."""

    amount: int
    window: int

    @classmethod
    def parse(cls, text: str) -> Quota:
        """From `300/minute` or `10/15 minutes`; raises ValueError."""
        item = limits.parse(text)
        return cls(item.amount, item.get_expiry())

    @property
    def item(self) -> limits.RateLimitItem:
        return limits.RateLimitItemPerSecond(self.amount, self.window)

    @property
    def policy(self) -> str:
        """The quota as a `RateLimit-Policy` value."""
        return f"{self.amount};w={self.window}"


class Decision(NamedTuple):
    """The outcome of one hit: allowed or not, and the state of the quota after it."""

    allowed: bool
    quota: Quota
    remaining: int
    reset_at: float
    now: float

    @property
    def reset_after(self) -> int:
        """Whole seconds until the quota has room again (0 when it has some now)."""
        return max(0, math.ceil(self.reset_at - self.now))

    @property
    def retry_after(self) -> int:
        """Whole seconds a refused caller should wait; at least 1."""
        return max(1, self.reset_after)


class Hit(NamedTuple):
    """`cost` taken from the quota counted under `key`."""

    quota: Quota
    key: tuple[str, ...]
    cost: int = 1
    strategy: Strategy = Strategy.SLIDING


_SLIDING = Strategy.SLIDING  # a global read rather than an enum attribute, per hit

_STORAGE_ERRORS = (StorageError, RedisError, OSError, TimeoutError)


class Limiter:
    """Counts hits against quotas, in `storage` (Redis) or, without it, in process memory."""

    def __init__(
        self,
        storage: Storage | None = None,
        *,
        sliding: SlidingWindows | None = None,
        on_error: FailureMode = "memory",
        timeout: float = 0.5,
        retry_after: float = 5.0,
        namespace: str = "ratelimit",
        clock: Callable[[], float] = time.time,
        reserve_fraction: float = 0.0,
        reserve_lease: float = 1.0,
        outage: OutageReport | None = None,
    ) -> None:
        self._primary = storage
        # Sliding windows in `storage`'s Redis, hit and read in one round trip.
        self._sliding = sliding
        self._memory = MemoryStorage()
        # Sliding windows in process memory, hit and read without limits' locks.
        self._memory_sliding = MemorySlidingWindow(clock)
        self._on_error: FailureMode = on_error
        self._timeout, self._retry_after = timeout, retry_after
        self._namespace = namespace
        self._clock = clock
        self._down_until = 0.0
        self._outage: OutageReport = outage if outage is not None else UnreportedOutage()
        # Sliding windows in Redis spent from local reservations (reservations.py);
        # none when the fraction is 0: every hit asks Redis.
        self._reservations = (
            Reservations(fraction=reserve_fraction, lease=reserve_lease)
            if reserve_fraction > 0 and sliding is not None
            else None
        )

    @property
    def clock(self) -> Callable[[], float]:
        """The time its windows count by (seconds)."""
        return self._clock

    @property
    def shared(self) -> bool:
        """Whether the counters are shared with other replicas (Redis)."""
        return self._primary is not None

    def reserved(self, quota: Quota, *key: str) -> int:
        """Units of `quota` this replica holds for `key`: counted in Redis, not yet spent."""
        if self._reservations is None:
            return 0
        return self._reservations.held(_limits_key(self._namespace, quota, key))

    async def hit(
        self, quota: Quota, *key: str, cost: int = 1, strategy: Strategy = Strategy.SLIDING
    ) -> Decision:
        """Take `cost` from the quota of `key` if it has that much left; never raises."""
        (decision,) = await self.hit_all([Hit(quota, key, cost, strategy)])
        return decision

    async def hit_all(self, hits: Sequence[Hit]) -> list[Decision]:
        """Each hit in order; once one is refused the rest take nothing and are refused.

        Sliding windows in Redis are taken in one round trip (a GraphQL request's quota
        and its cost budget together). Never raises.
        """
        if self._primary is None:
            return await self._hit_all_on(self._memory, hits)
        if self._clock() >= self._down_until:
            held = self.spend_held(hits)
            if held is not None:
                return held
            try:
                if self._reservations is not None and all(
                    hit.strategy is Strategy.SLIDING for hit in hits
                ):
                    decisions = await self._hit_all_reserved(self._reservations, hits)
                else:
                    async with asyncio.timeout(self._timeout):
                        decisions = await self._hit_all_on(self._primary, hits)
            except _STORAGE_ERRORS as error:
                self._down_until = self._clock() + self._retry_after
                self._outage.failed(error)
                if self._reservations is not None:
                    # Unknown what Redis counted; back on it, every key starts afresh.
                    self._reservations.clear()
            else:
                self._outage.succeeded()
                if self._reservations is not None and all(
                    hit.strategy is Strategy.SLIDING for hit in hits
                ):
                    # Mirrored in memory batch by batch, as Redis counted them.
                    return decisions
                return await self._counted_here_too(hits, decisions)
        now = self._clock()
        if self._on_error == "open":
            return [Decision(True, hit.quota, hit.quota.amount, now, now) for hit in hits]
        if self._on_error == "closed":
            return [Decision(False, hit.quota, 0, now + self._retry_after, now) for hit in hits]
        return await self._hit_all_on(self._memory, hits)

    def spend_held(self, hits: Sequence[Hit]) -> list[Decision] | None:
        """`hit_all`'s decisions when the units this replica holds cover every hit (taken
        from them, no await); None, and nothing taken, otherwise."""
        reservations = self._reservations
        if reservations is None or self._primary is None or self._clock() < self._down_until:
            return None
        decisions = self._spent_from_held(reservations, hits)
        if decisions is not None:
            self._outage.succeeded()
        return decisions

    def _spent_from_held(
        self, reservations: Reservations, hits: Sequence[Hit]
    ) -> list[Decision] | None:
        """What `_hit_all_reserved` decides when the held units cover every hit, without
        its claims (None otherwise)."""
        namespace = self._namespace
        spends: list[tuple[str, int]] = []
        for hit in hits:
            if hit.strategy is not _SLIDING:
                return None
            spends.append((_limits_key(namespace, hit.quota, hit.key), hit.cost))
        now = self._clock()
        states = reservations.spend_held(spends, now)
        if states is None:
            return None
        # `Reservations.remaining` and the reset as `_reserved_decision` gives them for a
        # hit admitted here, written out: no call a hit on every request.
        decisions: list[Decision] = []
        for hit, state in zip(hits, states, strict=True):
            quota = hit.quota
            remaining = state.remaining + state.held
            if remaining >= quota.amount:
                decisions.append(Decision(True, quota, quota.amount, now, now))
            else:
                decisions.append(Decision(True, quota, remaining, state.reset_at, now))
        return decisions

    async def _hit_all_reserved(
        self, reservations: Reservations, hits: Sequence[Hit]
    ) -> list[Decision]:
        """`hit_all` on Redis through this replica's reservations: hits they cover take
        no round trip; the others, and the batches they reserve, take one together."""
        assert self._sliding is not None  # reservations are only made with the script
        now = self._clock()
        claims = self._claims(reservations, hits, now, again=False)
        waiting = [claim.wait for claim in claims if claim.wait is not None]
        if waiting:
            for claim in claims:
                reservations.cancel(claim, now)
            # The batch under way answers within the storage timeout, or has failed.
            await asyncio.wait(waiting, timeout=self._timeout)
            now = self._clock()
            claims = self._claims(reservations, hits, now, again=True)
        windows: Iterator[SlidingWindow] = iter(())
        asked = [(hit, claim) for hit, claim in zip(hits, claims, strict=True) if claim.remote]
        if asked:
            try:
                async with asyncio.timeout(self._timeout):
                    windows = iter(await self._sliding.hit_all(self._reserving(asked)))
            except BaseException:
                for claim in claims:
                    reservations.failed(claim)
                raise
            now = self._clock()
        decisions: list[Decision] = []
        refused = False
        for hit, claim in zip(hits, claims, strict=True):
            decision = self._reserved_decision(reservations, hit, claim, windows, refused, now)
            refused = refused or not decision.allowed
            decisions.append(decision)
        return decisions

    def _claims(
        self, reservations: Reservations, hits: Sequence[Hit], now: float, *, again: bool
    ) -> list[Claim]:
        return [
            reservations.claim(
                _limits_key(self._namespace, hit.quota, hit.key),
                hit.quota.amount,
                hit.cost,
                now,
                again=again,
            )
            for hit in hits
        ]

    def _reserving(self, asked: Sequence[tuple[Hit, Claim]]) -> list[WindowHit]:
        return [
            WindowHit(
                _limits_key(self._namespace, hit.quota, hit.key),
                hit.quota.amount,
                hit.quota.window,
                claim.want,
                claim.minimum,
                claim.refund,
                claim.refund_window_end,
            )
            for hit, claim in asked
        ]

    def _reserved_decision(
        self,
        reservations: Reservations,
        hit: Hit,
        claim: Claim,
        windows: Iterator[SlidingWindow],
        refused_before: bool,
        now: float,
    ) -> Decision:
        quota, state = hit.quota, claim.state
        if not claim.remote:
            if refused_before:
                reservations.give_back(claim, now)
            remaining = reservations.remaining(state, quota.amount)
            reset_at = state.reset_at if remaining < quota.amount else now
            return Decision(not refused_before, quota, remaining, reset_at, now)
        window = next(windows)
        # The script refuses the later windows too once one refuses, so `taken` is 0
        # for them (what is claimed from `held` goes back).
        allowed = not refused_before and (hit.cost <= 0 or window.taken >= claim.minimum)
        key = _limits_key(self._namespace, quota, hit.key)
        if claim.refund_counted:
            self._memory_sliding.give_back(key, quota.window, claim.refund_counted)
        # Taken by Redis but not admitted (refused here after all) lapses: given back.
        kept = self._kept_in_memory(key, quota, window.taken, claim.minimum) if allowed else 0
        shared = _decision(quota, allowed and kept >= claim.minimum, window, now)
        reservations.settle(
            claim,
            window.taken,
            window.window_end,
            shared.remaining,
            shared.reset_at,
            now,
            kept=kept,
        )
        if not shared.allowed:
            if allowed:
                # Refused by this replica's own count (Redis came back without what it
                # had counted): as `_counted_here_too` refuses.
                return shared._replace(remaining=0)
            return shared
        return shared._replace(remaining=reservations.remaining(state, quota.amount))

    def _kept_in_memory(self, key: str, quota: Quota, taken: int, minimum: int) -> int:
        """What Redis took, counted in this process's memory as well (see the module's
        docstring): all of it, or only the hit's own `minimum`, or nothing when this
        replica's own count has no room for that either."""
        if taken <= 0:
            return 0
        memory = self._memory_sliding
        if memory.take(key, quota.amount, quota.window, taken):
            return taken
        if taken > minimum and memory.take(key, quota.amount, quota.window, minimum):
            return minimum
        return 0

    async def _counted_here_too(
        self, hits: Sequence[Hit], decisions: list[Decision]
    ) -> list[Decision]:
        """Redis's decisions, each granted hit also taken from this process's own count;
        refused (with the rest after it) where that count is exhausted."""
        granted = [hit for hit, decision in zip(hits, decisions, strict=True) if decision.allowed]
        if not granted:
            return decisions
        local = iter(await self._hit_all_on(self._memory, granted))
        refused: Decision | None = None
        final: list[Decision] = []
        for decision in decisions:
            if refused is None and decision.allowed:
                here = next(local)
                if not here.allowed:
                    refused = here
            if refused is not None and decision.allowed:
                decision = decision._replace(allowed=False, remaining=0, reset_at=refused.reset_at)
            final.append(decision)
        return final

    async def _hit_all_on(self, storage: Storage, hits: Sequence[Hit]) -> list[Decision]:
        sliding = all(hit.strategy is Strategy.SLIDING for hit in hits)
        if sliding and storage is self._memory:
            return self._decisions(hits, self._memory_sliding.hit_all(self._window_hits(hits)))
        if sliding and storage is self._primary and self._sliding is not None:
            windows = await self._sliding.hit_all(self._window_hits(hits))
            return self._decisions(hits, windows)
        decisions: list[Decision] = []
        for hit in hits:
            if decisions and not decisions[-1].allowed:
                # Only read: a refused hit before this one takes nothing here either.
                read = await self._hit_on(storage, hit.quota, hit.key, 0, hit.strategy)
                decisions.append(read._replace(allowed=False))
            else:
                decisions.append(
                    await self._hit_on(storage, hit.quota, hit.key, hit.cost, hit.strategy)
                )
        return decisions

    async def _hit_on(
        self,
        storage: Storage,
        quota: Quota,
        key: tuple[str, ...],
        cost: int,
        strategy: Strategy,
    ) -> Decision:
        limiter: RateLimiter = (
            MovingWindowRateLimiter(storage)
            if strategy is Strategy.MOVING
            else SlidingWindowCounterRateLimiter(storage)
        )
        item = quota.item
        identifiers = (self._namespace, *key)
        allowed = True if cost <= 0 else await limiter.hit(item, *identifiers, cost=cost)
        stats = await limiter.get_window_stats(item, *identifiers)
        now = self._clock()
        reset_at = stats.reset_time if stats.remaining < quota.amount else now
        return Decision(allowed, quota, stats.remaining, reset_at, now)

    def _window_hits(self, hits: Sequence[Hit]) -> list[WindowHit]:
        return [
            WindowHit(
                _limits_key(self._namespace, hit.quota, hit.key),
                hit.quota.amount,
                hit.quota.window,
                hit.cost,
            )
            for hit in hits
        ]

    def _decisions(self, hits: Sequence[Hit], windows: Sequence[SlidingWindow]) -> list[Decision]:
        now = self._clock()
        decisions: list[Decision] = []
        for hit, window in zip(hits, windows, strict=True):
            refused_before = bool(decisions) and not decisions[-1].allowed
            allowed = not refused_before and (hit.cost <= 0 or window.acquired)
            decisions.append(_decision(hit.quota, allowed, window, now))
        return decisions


@functools.lru_cache(maxsize=16_384)
def _limits_key(namespace: str, quota: Quota, key: tuple[str, ...]) -> str:
    """The key `limits` would use, so both paths count on the same Redis keys (kept:
    building it takes a RateLimitItem and escapes every part, each request)."""
    return quota.item.key_for(namespace, *key)


def _decision(quota: Quota, allowed: bool, window: SlidingWindow, now: float) -> Decision:
    """What `limits`' sliding-window `get_window_stats` reports, from the window's state."""
    expiry = quota.window
    weighted = window.previous_count * window.previous_ttl / expiry + window.current_count
    remaining = max(0, quota.amount - math.floor(weighted))
    if remaining >= quota.amount or not (window.previous_count or window.current_count):
        return Decision(allowed, quota, remaining, now, now)
    previous_reset_in = current_reset_in = math.inf
    if window.previous_count:
        previous_reset_in = window.previous_ttl % (expiry / window.previous_count)
    if window.current_count:
        # A window's keys live two windows; read in the same call as the hit that made
        # them, the TTL is exactly that and the modulo would say "now", not a window.
        current_reset_in = window.current_ttl % expiry or expiry
    return Decision(allowed, quota, remaining, now + min(previous_reset_in, current_reset_in), now)


def redis_storage(redis: Redis, settings: RateLimitSettings) -> RedisStorage:
    """limits' storage over the gateway's own connection pool (no second client to close)."""
    # limits types its options as scalars; redis-py's bridge takes a connection pool.
    pool = cast(str, redis.connection_pool)
    return RedisStorage(
        "async+redis://",
        wrap_exceptions=True,
        implementation="redispy",
        key_prefix=settings.key_prefix,
        connection_pool=pool,
    )
