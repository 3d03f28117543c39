"""A bulkhead: at most `size` calls to one upstream at once, and a bounded wait for a slot.

A slow upstream then holds `size` tasks, not every request of the process: a call that
finds no slot within `wait_seconds` is refused at once (`BulkheadFullError`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager


class BulkheadFullError(Exception):
    """Every slot stayed taken for the whole wait."""


class Bulkhead:
    def __init__(
        self,
        size: int,
        wait_seconds: float,
        *,
        on_change: Callable[[int], None] | None = None,
    ) -> None:
        if size < 1 or wait_seconds < 0:
            raise ValueError("a bulkhead needs size >= 1 and wait_seconds >= 0")
        self.size, self._wait = size, wait_seconds
        self._slots = asyncio.Semaphore(size)
        self._on_change = on_change
        self.in_flight = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the block; raises BulkheadFullError when none frees in time."""
        if self._slots.locked() and self._wait == 0:
            raise BulkheadFullError(f"all {self.size} slots taken")
        try:
            async with asyncio.timeout(self._wait):
                await self._slots.acquire()
        except TimeoutError:
            raise BulkheadFullError(f"all {self.size} slots taken for {self._wait:g} s") from None
        self._moved(1)
        try:
            yield
        finally:
            self._moved(-1)
            self._slots.release()

    def _moved(self, delta: int) -> None:
        self.in_flight += delta
        if self._on_change is not None:
            self._on_change(self.in_flight)
