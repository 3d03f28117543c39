"""One timeout for many awaits, with one timer for all of them.

`asyncio.timeout` schedules a timer per use, and enters and leaves through two more
coroutines: about 20 µs of CPU around a prepared read by id, which itself costs about
120 (docs/benchmarks/design-notes.md). Every prepared operation is bounded by the same
number of seconds, so the deadlines fall in the order the operations start: the oldest
running one is always the first due. `Deadlines` keeps the running ones in that order
and one timer, set for the oldest; when it fires, it cancels every task past its
deadline and is set again for the oldest left (or not at all). A use costs a clock read
and a dict entry.

What the awaiting task sees is what `asyncio.timeout` gives: cancelled at the deadline,
and the cancellation it did not ask for itself turned into `TimeoutError` on the way out
(a cancellation from elsewhere stays a cancellation).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable


class _Watch:
    __slots__ = ("cancelling", "deadline", "expired", "task")

    def __init__(self, task: asyncio.Task[object], deadline: float, cancelling: int) -> None:
        self.task, self.deadline, self.cancelling = task, deadline, cancelling
        self.expired = False


class Deadlines:
    """Bounds awaits by `seconds` each (`bounded`), in the event loop they run in."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        # Running awaits, oldest first (insertion order: deadlines only grow).
        self._running: dict[_Watch, None] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    async def bounded[T](self, awaitable: Awaitable[T]) -> T:
        """What `awaitable` gives, unless `seconds` pass first: then the task is cancelled
        there and TimeoutError raised (as `async with asyncio.timeout(seconds)`)."""
        task = asyncio.current_task()
        assert task is not None  # awaited in a task
        loop = task.get_loop()
        watch = _Watch(task, loop.time() + self.seconds, task.cancelling())
        self._running[watch] = None
        timer = self._timer
        if timer is None or self._timer_loop is not loop or timer.when() > watch.deadline:
            self._arm(loop, watch.deadline)
        try:
            result = await awaitable
        except asyncio.CancelledError:
            if watch.expired and task.uncancel() <= watch.cancelling:
                raise TimeoutError from None
            raise
        except BaseException:
            if watch.expired:
                task.uncancel()  # the cancellation was swallowed: not the task's any more
            raise
        finally:
            self._running.pop(watch, None)
        if watch.expired:
            task.uncancel()  # swallowed by the awaited code, which returned
        return result

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_loop = loop.call_at(when, self._expire, loop), loop

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = self._timer_loop = None
        now = loop.time()
        running = self._running
        while running:
            watch = next(iter(running))
            if watch.task.get_loop() is not loop:
                del running[watch]  # left behind by a loop that is gone
                continue
            if watch.deadline > now:
                self._arm(loop, watch.deadline)  # the oldest left
                return
            del running[watch]
            if not watch.task.done():
                watch.expired = True
                watch.task.cancel()
