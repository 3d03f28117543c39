"""Sliding windows hit and read in one round trip decide exactly as `limits` does."""

from __future__ import annotations

import asyncio
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis, from_url

from gateway.limits.rate_limit import Decision, Limiter, Quota, redis_storage
from gateway.settings import RateLimitSettings
from persistence.redis_sliding_window import RedisSlidingWindow
from tests.gateway.clock import ManualClock
from tests.services import REDIS_URL, require_service

QUOTA = Quota(5, 3600)
hits = st.lists(st.tuples(st.sampled_from(["ann", "bob"]), st.integers(0, 4)), max_size=12)


def _limiters(redis: Redis) -> tuple[Limiter, Limiter]:
    """One limiter on the single-call script, one on `limits` alone, on separate keys."""
    ours, theirs = f"test-ours-{uuid.uuid4().hex}", f"test-limits-{uuid.uuid4().hex}"
    sliding = RedisSlidingWindow(redis, ours)
    storage = redis_storage(redis, RateLimitSettings(key_prefix=theirs))
    # A generous storage timeout: past the default 0.5 s (a loaded machine) a limiter
    # falls back to counting in memory, and the two would no longer be compared.
    return (
        Limiter(
            redis_storage(redis, RateLimitSettings(key_prefix=ours)), sliding=sliding, timeout=30
        ),
        Limiter(storage, timeout=30),
    )


def _seen(decision: Decision) -> tuple[bool, int]:
    return decision.allowed, decision.remaining


def _resets_within_the_window(decision: Decision) -> bool:
    # `limits` reads the TTL a moment after its hit and can land exactly on the window's
    # edge (then "resets now"); ours reads in the same call, so it is checked on its own.
    if decision.remaining == QUOTA.amount:
        return decision.reset_after == 0
    return 0 < decision.reset_after <= QUOTA.window


async def _both(
    sequence: list[tuple[str, int]],
) -> tuple[list[tuple[bool, int]], list[tuple[bool, int]]]:
    redis = from_url(REDIS_URL)
    try:
        ours, theirs = _limiters(redis)
        decisions = [await ours.hit(QUOTA, who, cost=cost) for who, cost in sequence]
        assert all(_resets_within_the_window(decision) for decision in decisions)
        reference = [_seen(await theirs.hit(QUOTA, who, cost=cost)) for who, cost in sequence]
        return [_seen(decision) for decision in decisions], reference
    finally:
        await redis.aclose()


@settings(max_examples=25, deadline=None)
@given(hits)
def test_decisions_match_limits(redis_available: bool, sequence: list[tuple[str, int]]) -> None:
    require_service("Redis", redis_available)
    mine, reference = asyncio.run(_both(sequence))
    assert mine == reference


async def test_both_read_the_same_counters(redis_available: bool) -> None:
    require_service("Redis", redis_available)
    redis = from_url(REDIS_URL)
    prefix = f"test-shared-{uuid.uuid4().hex}"
    try:
        shared = RateLimitSettings(key_prefix=prefix)
        by_limits = Limiter(redis_storage(redis, shared), namespace=prefix)
        by_script = Limiter(
            redis_storage(redis, shared),
            sliding=RedisSlidingWindow(redis, prefix),
            namespace=prefix,
        )
        first = await by_limits.hit(QUOTA, "carol", cost=3)
        second = await by_script.hit(QUOTA, "carol", cost=2)
        third = await by_limits.hit(QUOTA, "carol")
    finally:
        await redis.aclose()
    assert [(d.allowed, d.remaining) for d in (first, second, third)] == [
        (True, 2),
        (True, 0),
        (False, 0),
    ]
    assert 3590 <= second.reset_after <= 3600


async def test_a_cost_beyond_the_quota_is_refused_and_takes_nothing(
    redis_available: bool,
) -> None:
    require_service("Redis", redis_available)
    redis = from_url(REDIS_URL)
    try:
        ours, _ = _limiters(redis)
        refused = await ours.hit(QUOTA, "dan", cost=6)
        after = await ours.hit(QUOTA, "dan", cost=5)
    finally:
        await redis.aclose()
    assert [(refused.allowed, refused.remaining), (after.allowed, after.remaining)] == [
        (False, 5),
        (True, 0),
    ]


async def test_the_windows_roll_on_the_clock_they_are_given(redis_available: bool) -> None:
    require_service("Redis", redis_available)
    redis = from_url(REDIS_URL)
    prefix = f"test-clock-{uuid.uuid4().hex}"
    clock = ManualClock.at_window_start(60)
    quota = Quota(3, 60)
    limiter = Limiter(
        redis_storage(redis, RateLimitSettings(key_prefix=prefix)),
        sliding=RedisSlidingWindow(redis, prefix, clock),
        namespace=prefix,
        clock=clock,
        timeout=30,
    )
    seen: list[tuple[bool, int, int]] = []
    try:
        # The window starts at the first hit; it rolls a minute later on this clock, then
        # the three hits weigh by the share of their window still within the last minute.
        for advance in (0, 0, 0, 0, 59, 2, 0, 20, 120):
            clock.advance(advance)
            decision = await limiter.hit(quota, "erin")
            seen.append((decision.allowed, decision.remaining, decision.reset_after))
    finally:
        await redis.aclose()
    assert seen == [
        (True, 2, 60),
        (True, 1, 60),
        (True, 0, 60),
        (False, 0, 60),
        (False, 0, 1),
        (True, 0, 19),
        (False, 0, 19),
        (True, 0, 19),
        # Two windows later on the clock nothing counts, though Redis still has the keys.
        (True, 2, 60),
    ]
