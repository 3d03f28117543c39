"""A quota shared by two replicas is never exceeded, under concurrent requests to both.

The request quota and the cost budget are taken in one Redis script call (checked and
counted atomically), and a replica admits from a local reservation only units that
call counted first, so within one window the overshoot across replicas is zero: of N
concurrent requests beyond a quota of Q, at most Q are admitted, whichever replica
each reached. Reservations are C = floor(RATE_LIMIT__RESERVE_FRACTION x Q) units a
key (0 for the small quotas here, so exactly Q are admitted); with them, a caller can
be refused up to 2 x replicas x C early (units the other replica holds), which the
test with reservations on allows for. Across a window's roll, units reserved before it
and spent after it are admitted in the next window too: up to replicas x C more (the
stated overshoot), tested with the limits' clock in the test's hands.
That holds while Redis answers: a call that fails or outlasts its timeouts falls back
to RATE_LIMIT__ON_STORAGE_ERROR (by default each replica counts alone), so the
timeouts here are the largest allowed, for a busy machine not to turn into an outage.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.container import build_container
from gateway.settings import Settings
from tests import migrated
from tests.gateway.accounts import codes, register
from tests.gateway.clock import ManualClock
from tests.services import REDIS_URL, require_service

ME = {"query": "{ me { email } }"}


@asynccontextmanager
async def two_replicas(
    tmp_path: Path,
    rate_limit: dict[str, Any],
    graphql: dict[str, Any] | None = None,
    clock: ManualClock | None = None,
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, str]]:
    settings = Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"},
        redis={"url": REDIS_URL, "socket_timeout_seconds": 30},
        revocation={"channel": f"test-{uuid.uuid4().hex}"},
        security={
            "secret_key": "s" * 40,
            "argon2_time_cost": 1,
            "argon2_memory_kib": 1024,
            "argon2_parallelism": 1,
        },
        # A prefix of its own: tests share the Redis database, never a counter.
        rate_limit={
            **rate_limit,
            "key_prefix": f"test-{uuid.uuid4().hex}",
            "storage_timeout_seconds": 10,
            "on_storage_error": "closed",
        },
        # Generous bounds for a busy machine: the operation's own stays above them.
        graphql={"execution_timeout_seconds": 60, **(graphql or {})},
    )
    await migrated.upgrade(settings.database.url)
    first, second = (
        build_container(settings, limiter_clock=clock),
        build_container(settings, limiter_clock=clock),
    )
    try:
        async with (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(settings, first)),
                base_url="http://a.test",
            ) as a,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(settings, second)),
                base_url="http://b.test",
            ) as b,
        ):
            token = (await register(a, f"{uuid.uuid4().hex[:12]}@example.com"))["accessToken"]
            yield a, b, str(token)
    finally:
        await first.aclose()
        await second.aclose()


async def burst(
    a: httpx.AsyncClient, b: httpx.AsyncClient, token: str, count: int
) -> list[httpx.Response]:
    """`count` requests at once, alternating between the replicas."""
    headers = {"authorization": f"Bearer {token}"}
    return list(
        await asyncio.gather(
            *((a if n % 2 else b).post("/graphql", json=ME, headers=headers) for n in range(count))
        )
    )


@pytest.mark.parametrize(("quota", "requests"), [(40, 100), (7, 30), (1, 12)])
async def test_the_request_quota_admits_exactly_its_amount_across_replicas(
    redis_available: bool, tmp_path: Path, quota: int, requests: int
) -> None:
    require_service("Redis", redis_available)
    async with two_replicas(tmp_path, {"user": f"{quota}/hour", "anonymous": "100/hour"}) as (
        a,
        b,
        token,
    ):
        answers = await burst(a, b, token, requests)
    admitted = [r for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code != 200]
    assert (len(admitted), len(refused)) == (quota, requests - quota)
    assert {r.status_code for r in refused} == {429}
    assert all(codes(r) == ["RATE_LIMITED"] for r in refused)
    # Each admitted request saw its own place in the quota: counted one at a time.
    assert sorted(int(r.headers["ratelimit-remaining"]) for r in admitted) == list(range(quota))


async def test_the_cost_budget_admits_exactly_what_it_pays_for_across_replicas(
    redis_available: bool, tmp_path: Path
) -> None:
    require_service("Redis", redis_available)
    budget = 25
    async with two_replicas(
        tmp_path,
        {"user": "1000/hour", "cost_budget": f"{budget}/hour"},
        graphql={"max_cost": 10},
    ) as (a, b, token):
        answers = await burst(a, b, token, 60)
    admitted = [r for r in answers if r.status_code == 200 and "errors" not in r.json()]
    costs = {r.json()["extensions"]["rateLimit"]["cost"] for r in admitted}
    assert len(costs) == 1
    (cost,) = costs
    assert len(admitted) == budget // cost
    assert sorted(r.json()["extensions"]["rateLimit"]["remaining"] for r in admitted) == [
        budget - cost * n for n in range(len(admitted), 0, -1)
    ]
    refused = [r for r in answers if r not in admitted]
    assert all(codes(r) == ["RATE_LIMITED"] for r in refused)


async def test_with_reservations_the_replicas_admit_at_most_the_quota(
    redis_available: bool, tmp_path: Path
) -> None:
    require_service("Redis", redis_available)
    quota, reserve = 200, 10  # C = 5% of the quota
    async with two_replicas(
        tmp_path, {"user": f"{quota}/hour", "anonymous": "100/hour", "reserve_fraction": 0.05}
    ) as (a, b, token):
        answers: list[httpx.Response] = []
        # Waves, so that replicas hold batches between them (a single burst starts with
        # none held and asks Redis for every request).
        for _ in range(30):
            answers += await burst(a, b, token, 10)
    admitted = [r for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code != 200]
    assert quota - 2 * 2 * reserve <= len(admitted) <= quota
    assert {r.status_code for r in refused} == {429}
    assert all(0 <= int(r.headers["ratelimit-remaining"]) < quota for r in admitted)


# Instants (seconds after the first request) and requests sent at each, in waves of ten
# alternating between the replicas; the windows of the shared counter roll at 60 and
# 120. The first window is left short of its quota before its last moments, so that
# with reservations both replicas hold units when it rolls.
WINDOW = 60
SCHEDULE = [
    (0.0, 20),
    (30.0, 20),
    (59.5, 30),
    (60.2, 30),
    (80.0, 30),
    (100.0, 30),
    (119.0, 30),
    (120.3, 30),
    (150.0, 30),
    (179.5, 30),
]


def weighed(admitted: Sequence[int]) -> list[tuple[int, int]]:
    """At each instant of SCHEDULE (as many as `admitted` has), given what was admitted
    at each: the requests admitted in its window of the shared counter so far, and those
    plus the previous window's weighted by the share of it still within the last WINDOW
    seconds (floored), as the sliding-window counter weighs them."""
    per_window: dict[int, int] = {}
    seen: list[tuple[int, int]] = []
    for (at, _), count in zip(SCHEDULE[: len(admitted)], admitted, strict=True):
        # A window ends at its roll: a request exactly at a multiple of it is still in it.
        index = max(0, math.ceil(at / WINDOW) - 1)
        elapsed = (at - index * WINDOW) / WINDOW
        per_window[index] = per_window.get(index, 0) + count
        previous = math.floor(per_window.get(index - 1, 0) * (1 - elapsed))
        seen.append((per_window[index], previous + per_window[index]))
    return seen


def exactly_counted(quota: int) -> list[int]:
    """Requests admitted at each instant of SCHEDULE by a counter that counts each
    request as it comes: as many as the weighted count leaves room for."""
    admitted: list[int] = []
    for _, sent in SCHEDULE:
        before = weighed([*admitted, 0])[-1][1]
        admitted.append(min(sent, max(0, quota - before)))
    return admitted


@pytest.mark.parametrize(("fraction", "overshoot"), [(0.0, 0), (0.1, 2 * 10)])
async def test_around_window_rolls_two_replicas_admit_at_most_the_quota_and_the_overshoot(
    redis_available: bool, tmp_path: Path, fraction: float, overshoot: int
) -> None:
    """The stated bound (RATE_LIMIT__RESERVE_FRACTION): with R replicas holding at most
    C = floor(fraction x quota) units a key, in each window of the shared counter, and
    at each moment counting the previous window's admitted requests by their weight,
    the replicas admit at most the quota plus R x C (0 without reservations)."""
    require_service("Redis", redis_available)
    quota = 100
    clock = ManualClock.at_window_start(WINDOW)
    async with two_replicas(
        tmp_path,
        {"user": f"{quota}/minute", "anonymous": "100/hour", "reserve_fraction": fraction},
        clock=clock,
    ) as (a, b, token):
        start = clock()
        admitted: list[int] = []
        for at, sent in SCHEDULE:
            clock.now = start + at
            answers: list[httpx.Response] = []
            for _ in range(sent // 10):
                answers += await burst(a, b, token, 10)
            assert {r.status_code for r in answers} <= {200, 429}
            admitted.append(sum(r.status_code == 200 for r in answers))
    exact = exactly_counted(quota)
    assert max(max(pair) for pair in weighed(admitted)) <= quota + overshoot, (admitted, exact)
    if not overshoot:
        # Each request counted in Redis as it comes, atomically: exactly the model's.
        assert admitted == exact
    else:
        # The window after a roll admitted more than the quota (the units held at the
        # roll), which the bound allows for.
        assert max(in_window for in_window, _ in weighed(admitted)) > quota
