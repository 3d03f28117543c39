"""A circuit breaker: closed, open, half-open, on an injectable clock.

Closed, calls pass and consecutive failures are counted; `failures` in a row open it.
Open, every call is refused for `reset_seconds`. Then it is half-open: one trial call
at a time goes through (the others are refused as while open); the trial's success
closes it, its failure opens it again for another `reset_seconds`.

Our own rather than a library's: `circuitbreaker` reads the wall clock itself (a test
would sleep through the reset) and lets every concurrent call through once half-open;
`purgatory` and `aiobreaker` are unmaintained.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerOpenError(Exception):
    """The breaker refused the call; `retry_after` seconds until a trial is let through."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"circuit open; a trial call in {retry_after:g} s")
        self.retry_after = retry_after


class CircuitBreaker:
    """One upstream's breaker (see the module docstring); `admit` before each call, then
    exactly one of `succeeded`, `failed` or `abandoned` with what `admit` returned."""

    def __init__(
        self,
        failures: int,
        reset_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        if failures < 1 or reset_seconds <= 0:
            raise ValueError("a breaker needs failures >= 1 and reset_seconds > 0")
        self._threshold, self._reset = failures, reset_seconds
        self._clock, self._on_change = clock, on_change
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial = False

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self._reset:
            self._move(BreakerState.HALF_OPEN)
        return self._state

    def admit(self) -> bool:
        """Let a call through, or raise BreakerOpenError; True when it is the trial call."""
        state = self.state
        if state is BreakerState.CLOSED:
            return False
        if state is BreakerState.HALF_OPEN and not self._trial:
            self._trial = True
            return True
        remaining = self._reset - (self._clock() - self._opened_at)
        raise BreakerOpenError(max(1, math.ceil(remaining)))  # whole seconds, as Retry-After

    def succeeded(self, trial: bool) -> None:
        if trial:
            self._trial = False
            self._failures = 0
            self._move(BreakerState.CLOSED)
        elif self._state is BreakerState.CLOSED:
            self._failures = 0

    def failed(self, trial: bool) -> None:
        if trial:
            self._trial = False
            self._open()
        elif self._state is BreakerState.CLOSED:
            # A call admitted before the breaker opened, failing after, counts no more.
            self._failures += 1
            if self._failures >= self._threshold:
                self._open()

    def abandoned(self, trial: bool) -> None:
        """The call ended without telling anything of the upstream (cancelled, refused by
        the bulkhead): the next call may be the trial."""
        if trial:
            self._trial = False

    def _open(self) -> None:
        self._failures = 0
        self._opened_at = self._clock()
        self._move(BreakerState.OPEN)

    def _move(self, state: BreakerState) -> None:
        if state is not self._state:
            self._state = state
            if self._on_change is not None:
                self._on_change(state)
