"""Sliding-window counters: a hit asked of a window and the window after it, and the
port of the counters replicas share (`persistence.redis_sliding_window`, one round trip
to Redis). The rate limiter (`gateway.limits.rate_limit`) decides from these; in
process memory it counts with `gateway.limits.memory_windows`, on the same arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SlidingWindow:
    """A hit's outcome and the window after it (TTLs in seconds, 0 when absent)."""

    acquired: bool
    previous_count: int
    previous_ttl: float
    current_count: int
    current_ttl: float
    # Units taken (`amount` or, for a reservation, what there was room for).
    taken: int = 0
    # The current window's end on Redis's clock, in ms (0: unknown), naming the window
    # the units were counted in for a later refund.
    window_end: int = 0


@dataclass(frozen=True, slots=True)
class WindowHit:
    """One window to hit: its `limits` key, quota and the amount to take (0: only read).

    `minimum` (default: `amount`): take less than `amount`, down to this, when that is
    all the window has room for. `refund` units counted in the window ending at
    `refund_window_end` and never spent are given back first.
    """

    key: str
    limit: int
    window_seconds: int
    amount: int
    minimum: int | None = None
    refund: int = 0
    refund_window_end: int = 0


class SlidingWindows(Protocol):
    """Sliding-window counters shared by replicas."""

    async def hit_all(self, hits: Sequence[WindowHit]) -> list[SlidingWindow]:
        """Each hit in order, in one round trip; after a refusal the rest are only read.

        Raises the store's errors (RedisError, OSError, TimeoutError).
        """
        ...
