"""The circuit breaker's states on a clock the test moves (no sleeping)."""

from __future__ import annotations

import pytest

from upstreams.breaker import BreakerOpenError, BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def opened(clock: Clock, changes: list[BreakerState]) -> CircuitBreaker:
    breaker = CircuitBreaker(3, 30.0, clock=clock, on_change=changes.append)
    for _ in range(3):
        trial = breaker.admit()
        breaker.failed(trial)
    return breaker


def test_failures_in_a_row_open_it_and_a_success_between_them_starts_the_count_again() -> None:
    clock, changes = Clock(), list[BreakerState]()
    breaker = CircuitBreaker(3, 30.0, clock=clock, on_change=changes.append)
    for outcome in (False, False, True, False, False):
        trial = breaker.admit()
        (breaker.succeeded if outcome else breaker.failed)(trial)
    assert (breaker.state, changes) == (BreakerState.CLOSED, [])
    breaker.failed(breaker.admit())
    assert (breaker.state, changes) == (BreakerState.OPEN, [BreakerState.OPEN])


def test_while_open_every_call_is_refused_until_the_reset_time() -> None:
    clock, changes = Clock(), list[BreakerState]()
    breaker = opened(clock, changes)
    clock.now += 29.5
    with pytest.raises(BreakerOpenError) as refused:
        breaker.admit()
    assert (refused.value.retry_after, breaker.state) == (1, BreakerState.OPEN)


def test_half_open_lets_one_trial_through_whose_success_closes_it() -> None:
    clock, changes = Clock(), list[BreakerState]()
    breaker = opened(clock, changes)
    clock.now += 30.0
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.admit() is True
    with pytest.raises(BreakerOpenError):
        breaker.admit()  # a second caller while the trial runs
    breaker.succeeded(True)
    assert (breaker.state, breaker.admit(), changes) == (
        BreakerState.CLOSED,
        False,
        [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED],
    )


def test_a_failed_trial_opens_it_for_another_reset_time() -> None:
    clock, changes = Clock(), list[BreakerState]()
    breaker = opened(clock, changes)
    clock.now += 30.0
    breaker.failed(breaker.admit())
    clock.now += 29.0
    with pytest.raises(BreakerOpenError):
        breaker.admit()
    clock.now += 1.0
    assert (breaker.state, changes) == (
        BreakerState.HALF_OPEN,
        [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.OPEN, BreakerState.HALF_OPEN],
    )


def test_an_abandoned_trial_lets_the_next_call_be_the_trial() -> None:
    clock, changes = Clock(), list[BreakerState]()
    breaker = opened(clock, changes)
    clock.now += 30.0
    breaker.abandoned(breaker.admit())
    assert (breaker.admit(), breaker.state) == (True, BreakerState.HALF_OPEN)


def test_a_late_failure_of_a_call_admitted_before_opening_counts_no_more() -> None:
    clock, changes = Clock(), list[BreakerState]()
    breaker = CircuitBreaker(1, 30.0, clock=clock, on_change=changes.append)
    early, late = breaker.admit(), breaker.admit()
    breaker.failed(early)
    clock.now += 20.0
    breaker.failed(late)
    clock.now += 10.0
    assert breaker.state is BreakerState.HALF_OPEN
