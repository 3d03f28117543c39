"""A clock that moves only when a test moves it, for the rate limits' windows."""

from __future__ import annotations

import math
import time


class ManualClock:
    """Seconds since the epoch, as `time.time` gives them, standing still between moves."""

    def __init__(self, now: float) -> None:
        self.now = now

    @classmethod
    def at_window_start(cls, seconds: int, past: float = 1.0) -> ManualClock:
        """`past` seconds into a window of `seconds` (the in-process windows start at
        multiples of it), one to two windows ahead of the real time: Redis expires keys
        at instants on this clock, so it must not fall behind the real time."""
        return cls((math.floor(time.time() / seconds) + 2) * seconds + past)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
