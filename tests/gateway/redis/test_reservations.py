"""Local reservations over one real Redis: two limiters (two replicas), clocks injected.

The stated bound (gateway/limits/reservations.py, RATE_LIMIT__RESERVE_FRACTION): every
admitted unit was counted in Redis first, so Redis's count is always what the replicas
admitted plus what they hold unspent (at most C each); within one window of the shared
counter the replicas admit at most the quota, and a caller is refused early by at most
what the others hold. The local clocks stand still unless a test moves them, so no
lease lapses behind a test's back; Redis's windows are an hour long.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis, from_url
from redis.exceptions import ConnectionError as RedisConnectionError

from domain.sliding_windows import SlidingWindow, WindowHit
from gateway.limits.rate_limit import Decision, Limiter, Quota, redis_storage
from gateway.settings import RateLimitSettings
from persistence.redis_sliding_window import RedisSlidingWindow
from tests.services import REDIS_URL, require_service

KEY = ("requests", "user:1")


class SpiedWindow(RedisSlidingWindow):
    """The script, recording what each call asks for; `failing` turns Redis off."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        super().__init__(redis, prefix)
        self.calls: list[list[WindowHit]] = []
        self.taken: list[int] = []
        self.failing = False

    async def hit_all(self, hits: Sequence[WindowHit]) -> list[SlidingWindow]:
        self.calls.append(list(hits))
        if self.failing:
            raise RedisConnectionError("Redis is down (test)")
        windows = await super().hit_all(hits)
        self.taken += [window.taken for window in windows]
        return windows


@dataclass
class Replica:
    limiter: Limiter
    window: SpiedWindow


@dataclass
class Cluster:
    redis: Redis
    prefix: str
    now: list[float]

    def replica(self, fraction: float, *, on_error: str = "closed") -> Replica:
        window = SpiedWindow(self.redis, self.prefix)
        limiter = Limiter(
            redis_storage(self.redis, RateLimitSettings(key_prefix=self.prefix)),
            sliding=window,
            namespace=self.prefix,
            # A loaded machine must not turn into an outage (the fallback would count
            # elsewhere and the sums below would not be Redis's).
            timeout=30,
            on_error=on_error,  # type: ignore[arg-type]
            clock=lambda: self.now[0],
            reserve_fraction=fraction,
            reserve_lease=1.0,
        )
        return Replica(limiter, window)

    async def counted(self, quota: Quota, *key: str) -> int:
        """What Redis has counted in the quota's current window."""
        probe = RedisSlidingWindow(self.redis, self.prefix)
        window = await probe.hit(
            quota.item.key_for(self.prefix, *key), quota.amount, quota.window, 0
        )
        return window.current_count


@pytest.fixture
async def cluster(redis_available: bool) -> AsyncIterator[Cluster]:
    require_service("Redis", redis_available)
    redis = from_url(REDIS_URL)
    try:
        # A prefix of its own: tests share the Redis database, never a counter.
        yield Cluster(redis, f"test-{uuid.uuid4().hex}", [1_000.0])
    finally:
        await redis.aclose()


async def _wave(replicas: Sequence[Replica], quota: Quota, per_replica: int) -> list[Decision]:
    return list(
        await asyncio.gather(
            *(r.limiter.hit(quota, *KEY) for _ in range(per_replica) for r in replicas)
        )
    )


async def test_two_replicas_admit_the_quota_exactly_and_never_more(cluster: Cluster) -> None:
    quota = Quota(100, 3600)
    replicas = [cluster.replica(0.1), cluster.replica(0.1)]  # C = 10 units each
    admitted = 0
    for _ in range(40):
        decisions = await _wave(replicas, quota, 5)
        admitted += sum(d.allowed for d in decisions)
        held = [r.limiter.reserved(quota, *KEY) for r in replicas]
        # Redis counted every admitted hit before it was admitted, and what is held.
        assert (await cluster.counted(quota, *KEY), max(held)) == (admitted + sum(held), max(held))
        assert max(held) <= 10
        assert admitted <= quota.amount
    # Once Redis refuses, each replica still spends what it holds: none is left over.
    assert (admitted, [r.limiter.reserved(quota, *KEY) for r in replicas]) == (100, [0, 0])
    # The 100 admitted hits took few calls that counted anything: most came from batches.
    counting_calls = sum(1 for r in replicas for taken in r.window.taken if taken > 0)
    assert counting_calls <= 20


async def test_a_replica_holding_units_makes_the_others_refuse_at_most_that_early(
    cluster: Cluster,
) -> None:
    quota = Quota(50, 3600)
    holder, other = cluster.replica(0.2), cluster.replica(0.2)  # C = 10
    held_by_holder = [(await holder.limiter.hit(quota, *KEY)).allowed for _ in range(6)]
    held = holder.limiter.reserved(quota, *KEY)
    answers = [(await other.limiter.hit(quota, *KEY)).allowed for _ in range(60)]
    assert held_by_holder == [True] * 6
    assert 0 < held <= 10
    # The other replica gets everything but what the holder admitted and holds.
    assert answers == [True] * (50 - 6 - held) + [False] * (60 - 50 + 6 + held)
    assert await cluster.counted(quota, *KEY) == 50
    # The holder still spends its units: the quota is admitted in full, not more.
    spent_later = [(await holder.limiter.hit(quota, *KEY)).allowed for _ in range(held + 2)]
    assert spent_later == [True] * held + [False, False]


async def test_a_quiet_key_is_counted_exactly_as_without_reservations(cluster: Cluster) -> None:
    quota = Quota(5, 3600)
    reserving = cluster.replica(0.5)  # C = 2 units, never used by a quiet caller
    exact = Cluster(cluster.redis, f"{cluster.prefix}-exact", cluster.now).replica(0.0)
    mine: list[tuple[bool, int]] = []
    theirs: list[tuple[bool, int]] = []
    for _ in range(7):
        cluster.now[0] += 1.5  # one request a lease and a half: a quiet caller
        mine.append(_seen(await reserving.limiter.hit(quota, *KEY)))
        theirs.append(_seen(await exact.limiter.hit(quota, *KEY)))
    assert (
        mine == theirs == [(True, 4), (True, 3), (True, 2), (True, 1), (True, 0)] + [(False, 0)] * 2
    )
    assert [(c.amount, c.minimum, c.refund) for (c,) in reserving.window.calls] == [(1, 1, 0)] * 7


async def test_remaining_is_the_shared_count_less_what_this_replica_spent(
    cluster: Cluster,
) -> None:
    quota = Quota(100, 3600)
    replica = cluster.replica(0.1)
    seen = [(await replica.limiter.hit(quota, *KEY)).remaining for _ in range(12)]
    assert seen == list(range(99, 87, -1))
    assert len(replica.window.calls) < 12


async def test_units_unspent_at_the_end_of_a_lease_go_back_to_redis(cluster: Cluster) -> None:
    quota = Quota(100, 3600)
    replica = cluster.replica(0.1)
    # Batches: 1, then 1 + 2 (two hits this lease), then 1 + 5 (five).
    for _ in range(5):
        await replica.limiter.hit(quota, *KEY)
    assert (replica.limiter.reserved(quota, *KEY), await cluster.counted(quota, *KEY)) == (5, 10)
    cluster.now[0] += 1.5  # the lease lapses
    later = await replica.limiter.hit(quota, *KEY)
    last = replica.window.calls[-1][0]
    # The five go back; the new batch is what the key spent in the last lease.
    assert (later.allowed, last.refund, last.minimum, last.amount) == (True, 5, 1, 6)
    assert (replica.limiter.reserved(quota, *KEY), await cluster.counted(quota, *KEY)) == (5, 11)


async def test_a_cost_budget_shared_by_two_replicas_pays_for_at_most_its_amount(
    cluster: Cluster,
) -> None:
    budget = Quota(1_000, 3600)
    replicas = [cluster.replica(0.1), cluster.replica(0.1)]  # C = 100 points each
    costs = [7, 13, 1, 50, 3, 21, 2, 9]
    paid = 0
    for wave in range(30):
        hits = [(replica, costs[(wave + n) % len(costs)]) for n, replica in enumerate(replicas * 4)]
        decisions = await asyncio.gather(
            *(r.limiter.hit(budget, "cost", "user:1", cost=cost) for r, cost in hits)
        )
        paid += sum(cost for (_, cost), d in zip(hits, decisions, strict=True) if d.allowed)
        held = sum(r.limiter.reserved(budget, "cost", "user:1") for r in replicas)
        assert await cluster.counted(budget, "cost", "user:1") == paid + held
        assert paid <= budget.amount
    # Refused only for want of room: what is left cannot pay for the dearest cost.
    assert budget.amount - 50 < paid <= budget.amount


async def test_a_redis_failure_drops_reservations_and_the_fallback_decides(
    cluster: Cluster,
) -> None:
    quota = Quota(100, 3600)
    replica = cluster.replica(0.1, on_error="closed")
    for _ in range(5):
        await replica.limiter.hit(quota, *KEY)
    held = replica.limiter.reserved(quota, *KEY)
    assert held == 5
    # Units held are spent without asking Redis (counted there already) ...
    replica.window.failing = True
    spent = [(await replica.limiter.hit(quota, *KEY)).allowed for _ in range(held)]
    # ... and the next call finds Redis down: refused, as `closed` says, while it lasts.
    after = [(await replica.limiter.hit(quota, *KEY)).allowed for _ in range(3)]
    assert (spent, after, replica.limiter.reserved(quota, *KEY)) == (
        [True] * held,
        [False] * 3,
        0,
    )


def _seen(decision: Decision) -> tuple[bool, int]:
    return decision.allowed, decision.remaining
