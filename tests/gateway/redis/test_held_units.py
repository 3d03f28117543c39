"""Hits paid from held units without claims (`Limiter._spent_from_held`), over one real Redis.

The short path must decide exactly as the claims it skips: the same admissions, the same
`remaining` and reset, the same units counted in Redis and held, and it must never pay
a hit past what is held, nor with units whose lease has lapsed. Each case runs the same
hits on two limiters with counters of their own, one without the short path.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis, from_url

from domain.sliding_windows import SlidingWindow, WindowHit
from gateway.limits.rate_limit import Decision, Hit, Limiter, Quota, redis_storage
from gateway.settings import RateLimitSettings
from persistence.redis_sliding_window import RedisSlidingWindow
from tests.services import REDIS_URL, require_service

REQUESTS = Quota(60, 3600)
BUDGET = Quota(200, 3600)


class CountedWindow(RedisSlidingWindow):
    """The script, counting the calls that reach Redis."""

    def __init__(self, redis: Redis, prefix: str, now: list[float]) -> None:
        super().__init__(redis, prefix, clock=lambda: now[0])
        self.calls: list[list[WindowHit]] = []

    async def hit_all(self, hits: Sequence[WindowHit]) -> list[SlidingWindow]:
        self.calls.append(list(hits))
        return await super().hit_all(hits)


class ClaimsOnly(Limiter):
    """Every hit claimed, as before the short path."""

    def _spent_from_held(self, reservations: object, hits: Sequence[Hit]) -> None:
        del reservations, hits


@dataclass
class Replica:
    limiter: Limiter
    window: CountedWindow
    prefix: str


@dataclass
class Pair:
    """Two replicas of their own on one clock: `short` with the short path, `claims` without."""

    redis: Redis
    now: list[float]
    short: Replica
    claims: Replica

    async def hit_all(self, hits: Sequence[Hit]) -> tuple[list[Decision], list[Decision]]:
        return await self.short.limiter.hit_all(hits), await self.claims.limiter.hit_all(hits)

    async def state(self, replica: Replica, quota: Quota, *key: str) -> tuple[int, int]:
        """(units counted in Redis's current window, units the replica holds)."""
        probe = RedisSlidingWindow(self.redis, replica.prefix, clock=lambda: self.now[0])
        window = await probe.hit(
            quota.item.key_for(replica.prefix, *key), quota.amount, quota.window, 0
        )
        return window.current_count, replica.limiter.reserved(quota, *key)


def _replica(redis: Redis, now: list[float], kind: type[Limiter]) -> Replica:
    prefix = f"test-{uuid.uuid4().hex}"  # a counter of its own in the shared database
    window = CountedWindow(redis, prefix, now)
    limiter = kind(
        redis_storage(redis, RateLimitSettings(key_prefix=prefix)),
        sliding=window,
        namespace=prefix,
        timeout=30,  # a loaded machine must not turn into an outage
        on_error="closed",
        clock=lambda: now[0],
        reserve_fraction=0.1,  # C = 6 requests, 20 points
        reserve_lease=1.0,
    )
    return Replica(limiter, window, prefix)


@pytest.fixture
async def pair(redis_available: bool) -> AsyncIterator[Pair]:
    require_service("Redis", redis_available)
    redis = from_url(REDIS_URL)
    # Redis expires keys at instants on this clock: it starts at the real time.
    now = [time.time()]
    try:
        yield Pair(redis, now, _replica(redis, now, Limiter), _replica(redis, now, ClaimsOnly))
    finally:
        await redis.aclose()


def _request(subject: str = "user:1") -> Hit:
    return Hit(REQUESTS, ("requests", subject))


def _cost(cost: int, subject: str = "user:1") -> Hit:
    return Hit(BUDGET, ("cost", subject), cost)


async def test_requests_paid_from_held_units_decide_as_their_claims_would(pair: Pair) -> None:
    costs = [1, 3, 1, 1, 7, 2, 1, 1, 1, 19, 1, 4, 1, 1, 30, 1]
    seen: list[tuple[bool, bool]] = []
    for step in range(80):
        if step % 17 == 16:
            pair.now[0] += 1.5  # a lease lapses now and then: its units go back
        else:
            pair.now[0] += 0.01
        calls = len(pair.short.window.calls)
        short, claims = await pair.hit_all([_request(), _cost(costs[step % len(costs)])])
        assert short == claims
        seen.append((len(pair.short.window.calls) == calls, short[1].allowed))
    for quota, key in ((REQUESTS, ("requests", "user:1")), (BUDGET, ("cost", "user:1"))):
        assert await pair.state(pair.short, quota, *key) == await pair.state(
            pair.claims, quota, *key
        )
    assert _asked(pair.short) == _asked(pair.claims)
    # Paid from held units, admitted or refused by Redis: each happened along the way.
    assert {(True, True), (False, True), (False, False)} <= set(seen)


def _asked(replica: Replica) -> list[list[tuple[int, int | None, int]]]:
    """What each call asked of Redis: (units, at least, refund) a hit."""
    return [
        [(hit.amount, hit.minimum, hit.refund) for hit in call] for call in replica.window.calls
    ]


async def test_a_hit_costing_more_than_is_held_asks_redis(pair: Pair) -> None:
    for _ in range(3):  # three hits in a lease: the key reserves batches
        await pair.short.limiter.hit_all([_cost(2)])
    held = pair.short.limiter.reserved(BUDGET, "cost", "user:1")
    assert held > 0
    calls = len(pair.short.window.calls)
    (paid_here,) = await pair.short.limiter.hit_all([_cost(held)])
    assert (
        len(pair.short.window.calls),
        pair.short.limiter.reserved(BUDGET, "cost", "user:1"),
    ) == (
        calls,
        0,
    )
    (asked,) = await pair.short.limiter.hit_all([_cost(1)])
    assert (paid_here.allowed, asked.allowed, len(pair.short.window.calls)) == (
        True,
        True,
        calls + 1,
    )


async def test_a_request_and_its_cost_are_paid_from_held_units_only_together(pair: Pair) -> None:
    for _ in range(3):  # batches from the second hit on: one unit of each left held
        await pair.short.limiter.hit_all([_request(), _cost(1)])
    held_cost = pair.short.limiter.reserved(BUDGET, "cost", "user:1")
    assert pair.short.limiter.reserved(REQUESTS, "requests", "user:1") > 0
    calls = len(pair.short.window.calls)
    # The request is covered, the cost is not: one call for both, as the claims make it.
    await pair.short.limiter.hit_all([_request(), _cost(held_cost + 1)])
    cost_key = BUDGET.item.key_for(pair.short.prefix, "cost", "user:1")
    assert [[hit.key for hit in call] for call in pair.short.window.calls[calls:]] == [[cost_key]]


async def test_held_units_are_not_spent_once_their_lease_has_lapsed(pair: Pair) -> None:
    for _ in range(3):  # batches from the second hit on: one unit left held
        await pair.short.limiter.hit_all([_request()])
    held = pair.short.limiter.reserved(REQUESTS, "requests", "user:1")
    assert held > 0
    calls = len(pair.short.window.calls)
    pair.now[0] += 1.0  # exactly the lease: lapsed
    (decision,) = await pair.short.limiter.hit_all([_request()])
    (sent,) = pair.short.window.calls[calls:]
    assert (decision.allowed, sent[0].refund, sent[0].minimum) == (True, held, 1)


async def test_remaining_reported_from_held_units_is_the_shared_count_less_what_was_spent(
    pair: Pair,
) -> None:
    seen = [
        (await pair.short.limiter.hit_all([_request(), _cost(2)]))[1].remaining for _ in range(12)
    ]
    assert seen == list(range(198, 174, -2))
    assert len(pair.short.window.calls) < 12


async def test_two_hits_on_one_key_are_paid_from_held_units_only_when_both_are(
    pair: Pair,
) -> None:
    for _ in range(3):  # one point left held by each
        await pair.hit_all([_cost(1)])
    assert [r.limiter.reserved(BUDGET, "cost", "user:1") for r in (pair.short, pair.claims)] == [
        1,
        1,
    ]
    short, claims = await pair.hit_all([_cost(1), _cost(1)])
    assert short == claims
    assert await pair.state(pair.short, BUDGET, "cost", "user:1") == await pair.state(
        pair.claims, BUDGET, "cost", "user:1"
    )
    assert _asked(pair.short) == _asked(pair.claims)
