"""The cost budget's per-request figures written out: `resetAt` remembered for the last
instant, `retryAfter` and `RateLimit-Reset` computed without the decision's properties,
and the held-units debit that skips the budget's coroutine."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from gateway.limits import cost_budget
from gateway.limits.cost_budget import CostBudget, prepaid_by, report
from gateway.limits.rate_limit import Decision, Hit, Limiter, Quota
from gateway.limits.rate_limit_http import PendingRequestHit, rate_limit_headers

QUOTA = Quota(100, 60)


def _written(instant: float) -> str:
    """The definition: the instant's whole second (as datetime reads it), ISO 8601 with Z."""
    moment = datetime.fromtimestamp(instant, UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def test_reset_at_is_each_instants_own_text_when_instants_repeat_and_change() -> None:
    start = 1_780_000_000.25
    instants = [
        start,
        start,  # the same instant again: the remembered text
        start + 0.5,  # a new instant in the same second
        start + 0.75,  # the next second
        start + 0.75,
        start,  # back to an earlier one
        1_780_000_009.9999996,  # rounds up to the next second, as datetime reads it
        1_780_000_009.9999996,
        1_780_000_009.9999994,
        start + 3600,
    ]
    for instant in instants:
        decision = Decision(True, QUOTA, 5, instant, start)
        assert report(1, decision)["resetAt"] == _written(instant), instant


def test_the_remembered_text_is_only_the_last_instants() -> None:
    texts = cost_budget._ResetTexts()
    assert texts.text(1_780_000_000.0) == _written(1_780_000_000.0)
    assert texts.text(1_780_000_061.0) == _written(1_780_000_061.0)
    assert texts.text(1_780_000_000.0) == _written(1_780_000_000.0)


@pytest.mark.parametrize(
    "wait", [-5.0, -0.5, 0.0, 1e-9, 0.2, 0.9999, 1.0, 1.0001, 1.5, 2.0, 59.99, 3600.0]
)
def test_retry_after_and_the_reset_header_are_the_decisions_own(wait: float) -> None:
    now = 1_780_000_000.125
    for allowed in (True, False):
        decision = Decision(allowed, QUOTA, 0 if not allowed else 7, now + wait, now)
        assert prepaid_by(3, decision).retry_after == decision.retry_after
        headers = dict(rate_limit_headers(decision))
        assert headers[b"ratelimit-reset"] == b"%d" % decision.reset_after
        if not allowed:
            assert headers[b"retry-after"] == b"%d" % decision.retry_after


class HeldOrNot(Limiter):
    """A limiter whose held units pay (or not), counting the calls that would await."""

    def __init__(self, held: bool) -> None:
        super().__init__()
        self.held = held
        self.spent: list[list[Hit]] = []
        self.awaited: list[list[Hit]] = []

    def spend_held(self, hits: Sequence[Hit]) -> list[Decision] | None:
        if not self.held:
            return None
        self.spent.append(list(hits))
        return [Decision(True, hit.quota, 9, 0.0, 0.0) for hit in hits]

    async def hit_all(self, hits: Sequence[Hit]) -> list[Decision]:
        self.awaited.append(list(hits))
        return [Decision(True, hit.quota, 8, 0.0, 0.0) for hit in hits]


def test_a_debit_paid_from_held_units_takes_the_requests_hit_with_it() -> None:
    limiter = HeldOrNot(held=True)
    budget = CostBudget(limiter, user=QUOTA, anonymous=QUOTA)
    pending = PendingRequestHit(limiter, Quota(10, 1), "user:7")
    decision = budget.debit_held(7, "10.0.0.1", 4, pending)
    assert decision is not None
    assert decision.quota is QUOTA
    assert pending.decision is not None
    assert pending.decision.quota == Quota(10, 1)
    assert limiter.spent == [[pending.hit, Hit(QUOTA, ("cost", "user:7"), 4)]]
    # The request's hit is taken once: a second debit takes the cost alone.
    budget.debit_held(7, "10.0.0.1", 4, pending)
    assert limiter.spent[1] == [Hit(QUOTA, ("cost", "user:7"), 4)]


def test_a_debit_not_covered_by_held_units_takes_nothing_and_leaves_it_to_debit() -> None:
    limiter = HeldOrNot(held=False)
    budget = CostBudget(limiter, user=QUOTA, anonymous=QUOTA)
    pending = PendingRequestHit(limiter, Quota(10, 1), "ip:10.0.0.1")
    assert budget.debit_held(None, "10.0.0.1", 4, pending) is None
    assert pending.decision is None
    assert limiter.awaited == []
    decision = asyncio.run(budget.debit(None, "10.0.0.1", 4, pending))
    assert decision.remaining == 8
    assert pending.decision is not None
    assert limiter.awaited == [[pending.hit, Hit(QUOTA, ("cost", "ip:10.0.0.1"), 4)]]


def test_a_callers_hits_are_made_once_and_are_the_values_they_stand_for() -> None:
    limiter = HeldOrNot(held=True)
    budget = CostBudget(limiter, user=QUOTA, anonymous=QUOTA)
    first = PendingRequestHit(limiter, Quota(10, 1), "user:7")
    again = PendingRequestHit(limiter, Quota(10, 1), "user:7")
    # The same caller's request hit is one object, equal to the hit written out.
    assert first.hit is again.hit
    assert first.hit == Hit(Quota(10, 1), ("requests", "user:7"))
    budget.debit_held(7, "10.0.0.1", 4)
    budget.debit_held(7, "10.0.0.1", 4)
    budget.debit_held(None, "10.0.0.1", 2)
    one, two, anonymous = limiter.spent
    assert one[0] is two[0]
    assert one == [Hit(QUOTA, ("cost", "user:7"), 4)]
    assert anonymous == [Hit(QUOTA, ("cost", "ip:10.0.0.1"), 2)]
