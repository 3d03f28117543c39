"""Sliding-window counters in process memory, counted as `limits`' MemoryStorage counts:
the rate limiter's own, as `limits`' MemoryStorage and its reservations are (no storage
adapter to choose: it holds nothing beyond this process and does no I/O).

The embedded default (no Redis) and the fallback while Redis is down. `limits`'
MemoryStorage takes an asyncio lock per key and a second call to read the window back;
a request's two hits (its request quota and its cost budget) cost ~50 µs there, twice
the rest of a cheap request. Here the read and the write happen with no `await`
between them, on one event loop, so no lock is needed: the same windows, the same
arithmetic (clock-aligned windows, the previous one weighted by the time it has left).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from domain.sliding_windows import SlidingWindow, WindowHit

# Keys kept at most; past it the least recently hit go first (their counts are lost,
# which only ever lets a caller through early).
MAX_KEYS = 100_000


@dataclass(slots=True)
class _Counts:
    window: int  # the index of the current window: int(now / seconds)
    current: int
    previous: int
    # After this time both windows are over: the entry counts nothing.
    expires_at: float


class MemorySlidingWindow:
    """Sliding-window counters for one process (one event loop)."""

    def __init__(self, clock: Callable[[], float] = time.time, max_keys: int = MAX_KEYS) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._counts: OrderedDict[str, _Counts] = OrderedDict()

    def __len__(self) -> int:
        return len(self._counts)

    def hit_all(self, hits: Sequence[WindowHit]) -> list[SlidingWindow]:
        """Each hit in order; after a refusal the rest are only read."""
        now = self._clock()
        windows: list[SlidingWindow] = []
        refused = False
        for hit in hits:
            amount = 0 if refused else max(0, hit.amount)
            window = self._hit(hit.key, hit.limit, hit.window_seconds, amount, now)
            refused = refused or (amount > 0 and not window.acquired)
            windows.append(window)
        self._forget_expired(now)
        return windows

    def take(self, key: str, limit: int, seconds: int, amount: int) -> bool:
        """Take `amount` if the window has room for it (a mirror of what Redis counted)."""
        now = self._clock()
        taken = self._hit(key, limit, seconds, amount, now).acquired
        self._forget_expired(now)
        return taken

    def give_back(self, key: str, seconds: int, amount: int) -> None:
        """Units taken and never spent: out of the window they were taken in, if it is
        the current or the previous one."""
        counts = self._counts.get(key)
        if counts is None or amount <= 0:
            return
        index = int(self._clock() / seconds)
        if counts.window == index:
            counts.current = max(0, counts.current - amount)
        elif counts.window == index - 1:
            counts.previous = max(0, counts.current - amount)
            counts.window, counts.current = index, 0

    def _hit(self, key: str, limit: int, seconds: int, amount: int, now: float) -> SlidingWindow:
        index = int(now / seconds)
        counts = self._counts.get(key)
        if counts is None:
            counts = _Counts(index, 0, 0, 0.0)
            self._counts[key] = counts
        elif counts.window != index:
            # The window has moved on: the current count becomes the previous one if the
            # windows are adjacent, and nothing otherwise.
            previous = counts.current if counts.window == index - 1 else 0
            counts.window, counts.current, counts.previous = index, 0, previous
        self._counts.move_to_end(key)
        previous_ttl = (1 - (((now - seconds) / seconds) % 1)) * seconds if counts.previous else 0.0
        current_ttl = (1 - ((now / seconds) % 1)) * seconds + seconds
        acquired = False
        if 0 < amount <= limit:
            weighted = counts.previous * previous_ttl / seconds + counts.current
            if math.floor(weighted) + amount <= limit:
                counts.current += amount
                acquired = True
        counts.expires_at = (index + 2) * seconds
        if len(self._counts) > self._max_keys:
            self._counts.popitem(last=False)
        return SlidingWindow(
            acquired,
            counts.previous,
            previous_ttl,
            counts.current,
            current_ttl,
            amount if acquired else 0,
        )

    def _forget_expired(self, now: float) -> None:
        # The least recently hit first; it stops at the first live one, and MAX_KEYS
        # bounds what is left behind.
        while self._counts:
            oldest = next(iter(self._counts.values()))
            if oldest.expires_at > now:
                return
            self._counts.popitem(last=False)
