"""The limiter: quotas, decisions, and what happens when Redis fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import Redis, from_url
from starlette.types import Message, Receive, Scope, Send
from structlog.testing import capture_logs

from domain.errors import RateLimitedError
from domain.sliding_windows import WindowHit
from gateway.container import build_limiter
from gateway.limits.cost_budget import report
from gateway.limits.login_throttle import RateLimitLoginThrottle
from gateway.limits.memory_windows import MemorySlidingWindow
from gateway.limits.rate_limit import (
    Decision,
    Hit,
    Limiter,
    Quota,
    Strategy,
    redis_storage,
)
from gateway.limits.rate_limit_http import RequestRateLimitMiddleware, rate_limit_headers
from gateway.settings import RateLimitSettings, SettingsError, load_settings
from persistence.outages import Outage


@pytest.fixture
async def dead_redis() -> AsyncIterator[Redis]:
    # Port 1 refuses at once: a Redis that is down, without waiting for a timeout.
    client = from_url("redis://127.0.0.1:1/0")
    yield client
    await client.aclose()


def test_quotas_parse_and_print_as_policies() -> None:
    assert Quota.parse("10/15 minutes") == Quota(10, 900)
    assert Quota.parse("300/minute").policy == "300;w=60"


@pytest.mark.parametrize("strategy", list(Strategy))
async def test_a_quota_allows_exactly_its_amount(strategy: Strategy) -> None:
    limiter = Limiter()
    quota = Quota(3, 60)
    decisions = [await limiter.hit(quota, "k", strategy=strategy) for _ in range(4)]
    assert [(d.allowed, d.remaining) for d in decisions] == [
        (True, 2),
        (True, 1),
        (True, 0),
        (False, 0),
    ]
    assert 1 <= decisions[-1].retry_after <= 60
    other = await limiter.hit(quota, "other", strategy=strategy)
    assert (other.allowed, other.remaining) == (True, 2)


async def test_a_cost_larger_than_what_is_left_takes_nothing() -> None:
    limiter = Limiter()
    quota = Quota(10, 60)
    assert (await limiter.hit(quota, "u", cost=7)).remaining == 3
    refused = await limiter.hit(quota, "u", cost=4)
    assert (refused.allowed, refused.remaining) == (False, 3)
    assert (await limiter.hit(quota, "u", cost=3)).remaining == 0


async def test_a_redis_failure_falls_back_to_memory_and_logs_once(dead_redis: Redis) -> None:
    limiter = build_limiter(RateLimitSettings(), dead_redis)
    quota = Quota(2, 60)
    with capture_logs() as logs:
        decisions = [await limiter.hit(quota, "k") for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert [(entry["event"], entry["component"]) for entry in logs] == [
        ("dependency outage started", "rate limiter")
    ]


async def test_fail_open_allows_and_fail_closed_refuses(dead_redis: Redis) -> None:
    quota = Quota(1, 60)
    open_ = build_limiter(RateLimitSettings(on_storage_error="open"), dead_redis)
    closed = build_limiter(
        RateLimitSettings(on_storage_error="closed", storage_retry_seconds=7), dead_redis
    )
    with capture_logs():
        assert [(await open_.hit(quota, "k")).allowed for _ in range(3)] == [True] * 3
        refused = await closed.hit(quota, "k")
    assert (refused.allowed, refused.retry_after) == (False, 7)


async def test_an_outage_is_logged_once_though_redis_is_tried_again(dead_redis: Redis) -> None:
    now = [1000.0]
    storage = redis_storage(dead_redis, RateLimitSettings())
    limiter = Limiter(
        storage,
        retry_after=5.0,
        clock=lambda: now[0],
        outage=Outage("redis", component="rate limiter"),
    )
    with capture_logs() as logs:
        await limiter.hit(Quota(5, 60), "k")
        await limiter.hit(Quota(5, 60), "k")
        now[0] += 6
        await limiter.hit(Quota(5, 60), "k")
    # One failure logged per outage, though Redis was tried twice.
    assert [entry["event"] for entry in logs] == ["dependency outage started"]


async def test_the_login_throttle_counts_per_account_and_per_client() -> None:
    throttle = RateLimitLoginThrottle(Limiter(), per_account=Quota(2, 60), per_ip=Quota(3, 60))
    await throttle.attempt("ann@example.org", "198.51.100.1")
    await throttle.attempt("ann@example.org", "198.51.100.2")
    with pytest.raises(RateLimitedError) as by_account:
        await throttle.attempt("ann@example.org", "198.51.100.3")
    assert (str(by_account.value), 1 <= by_account.value.retry_after <= 60) == (
        "too many login attempts; try again later",
        True,
    )
    await throttle.attempt("bob@example.org", "198.51.100.1")
    await throttle.attempt("cy@example.org", "198.51.100.1")
    with pytest.raises(RateLimitedError):
        await throttle.attempt("dee@example.org", "198.51.100.1")


def test_a_decision_rounds_its_delays_up() -> None:
    decision = Decision(False, Quota(1, 60), 0, reset_at=100.2, now=99.0)
    assert (decision.reset_after, decision.retry_after) == (2, 2)
    fresh = Decision(True, Quota(1, 60), 1, reset_at=99.0, now=99.0)
    assert (fresh.reset_after, fresh.retry_after) == (0, 1)


@given(
    st.booleans(),
    st.integers(min_value=1, max_value=10**9),
    st.integers(min_value=1, max_value=86_400),
    st.integers(min_value=0, max_value=10**9),
    st.floats(min_value=0, max_value=100_000, allow_nan=False),
)
def test_rate_limit_headers_are_the_decision_written_out(
    allowed: bool, amount: int, window: int, remaining: int, wait: float
) -> None:
    decision = Decision(allowed, Quota(amount, window), remaining, 1.7e9 + wait, 1.7e9)
    expected = [
        (b"ratelimit-limit", str(amount).encode()),
        (b"ratelimit-remaining", str(remaining).encode()),
        (b"ratelimit-reset", str(decision.reset_after).encode()),
        (b"ratelimit-policy", f"{amount};w={window}".encode()),
    ]
    if not allowed:
        expected.append((b"retry-after", str(decision.retry_after).encode()))
    assert rate_limit_headers(decision) == expected


@given(
    st.floats(min_value=0, max_value=4e9, allow_nan=False)
    | st.integers(min_value=0, max_value=4 * 10**9).map(lambda second: second - 4e-7)
)
def test_a_reported_reset_is_the_second_it_falls_in_as_datetime_reads_it(reset_at: float) -> None:
    decision = Decision(True, Quota(10, 60), 3, reset_at, 0.0)
    second = datetime.fromtimestamp(reset_at, UTC).replace(microsecond=0)
    assert report(2, decision) == {
        "cost": 2,
        "remaining": 3,
        "resetAt": second.isoformat().replace("+00:00", "Z"),
    }


def test_a_budget_smaller_than_one_allowed_operation_stops_start_up() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(rate_limit={"cost_budget": "100/hour"})
    assert str(caught.value) == (
        "invalid settings: RATE_LIMIT__COST_BUDGET must allow at least GRAPHQL__MAX_COST "
        "(25000) points"
    )


class _ScriptedLimiter(Limiter):
    """Answers the request quota from a script of allowed/refused, counting the asks."""

    def __init__(self, answers: list[bool], clock: Callable[[], float]) -> None:
        super().__init__(clock=clock)
        self.answers, self.asked = answers, 0

    async def hit_all(self, hits: Sequence[Hit]) -> list[Decision]:
        self.asked += 1
        now = self._clock()
        allowed = self.answers.pop(0)
        return [Decision(allowed, hit.quota, int(allowed), now + 10, now) for hit in hits]


async def test_a_remembered_refusal_lasts_until_the_quota_has_room() -> None:
    now = [1_000.0]
    limiter = _ScriptedLimiter([False, True], clock=lambda: now[0])
    statuses: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def anonymous(scope: Scope) -> int | None:
        return None

    middleware = RequestRateLimitMiddleware(
        app,
        limiter=limiter,
        anonymous=Quota(1, 60),
        user=Quota(1, 60),
        identify=anonymous,
        clock=lambda: now[0],
    )

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scope = {"type": "http", "path": "/api/v1/items", "headers": [], "client": ("10.0.0.1", 1)}
    for advance in (0, 5, 4.9, 0.1):  # refused at 1000 with room again at 1010
        now[0] += advance
        await middleware(dict(scope), receive, send)
    assert statuses == [429, 429, 429, 200]
    assert limiter.asked == 2


steps = st.lists(
    st.tuples(st.floats(0, 45), st.sampled_from(["ann", "bob"]), st.integers(0, 4)), max_size=15
)


@settings(max_examples=60, deadline=None)
@given(steps)
def test_memory_windows_decide_as_limits_memory_storage(
    sequence: list[tuple[float, str, int]],
) -> None:
    """The in-process counters count as `limits`' MemoryStorage, on the same clock."""
    quota = Quota(5, 20)
    now = [1_000_003.25]

    async def both() -> tuple[list[tuple[bool, int, float]], list[tuple[bool, int, float]]]:
        ours = Limiter(clock=lambda: now[0])
        theirs = SlidingWindowCounterRateLimiter(MemoryStorage())
        mine, reference = [], []
        for advance, who, cost in sequence:
            now[0] += advance
            decision = await ours.hit(quota, who, cost=cost)
            mine.append((decision.allowed, decision.remaining, round(decision.reset_at, 6)))
            allowed = True if cost <= 0 else await theirs.hit(quota.item, who, cost=cost)
            stats = await theirs.get_window_stats(quota.item, who)
            reset = stats.reset_time if stats.remaining < quota.amount else now[0]
            reference.append((allowed, stats.remaining, round(reset, 6)))
        return mine, reference

    with patch("time.time", lambda: now[0]):
        mine, reference = asyncio.run(both())
    assert mine == reference


def test_memory_windows_forget_what_no_longer_counts() -> None:
    now = [0.0]
    windows = MemorySlidingWindow(clock=lambda: now[0], max_keys=3)
    for key in ("a", "b", "c", "d"):
        windows.hit_all([WindowHit(key, 5, 10, 1)])
    assert len(windows) == 3  # the least recently hit went first
    now[0] = 30.0  # two windows later: nothing counts any more
    windows.hit_all([WindowHit("e", 5, 10, 1)])
    assert len(windows) == 1
