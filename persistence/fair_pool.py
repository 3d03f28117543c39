"""A connection pool that hands its connections out in the order they were asked for.

SQLAlchemy's asyncio pool queue takes a free connection at once when one is there, even
while other coroutines are waiting for one, and a waiter woken for a connection that
someone else took goes to the back of the line. Under load past the pool the same few
requests then wait again and again, which more than doubled p99 (measured in
docs/benchmarks/design-notes.md).

Here a FIFO semaphore counts the free connections: a connection goes to whoever has
waited longest, and nobody takes one past a waiter (`asyncio.Semaphore` has been fair
since Python 3.11).
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util.concurrency import await_
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty


class FairQueue(AsyncAdaptedQueue[ConnectionPoolEntry]):
    """The pool's queue of free connections, served first come, first served."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self._free: asyncio.Semaphore | None = None

    @property
    def free(self) -> asyncio.Semaphore:
        # Created on first use, inside the event loop that runs the pool.
        if self._free is None:
            self._free = asyncio.Semaphore(0)
        return self._free

    def put_nowait(self, item: ConnectionPoolEntry) -> None:
        super().put_nowait(item)
        self.free.release()

    def put(
        self, item: ConnectionPoolEntry, block: bool = True, timeout: float | None = None
    ) -> None:
        if not block:
            self.put_nowait(item)  # counted there
            return
        super().put(item, block, timeout)
        self.free.release()

    def get_nowait(self) -> ConnectionPoolEntry:
        if self.free.locked():  # none free, or others are waiting first
            raise Empty()
        await_(self.free.acquire())  # returns at once: not locked
        return super().get_nowait()

    def get(self, block: bool = True, timeout: float | None = None) -> ConnectionPoolEntry:
        if not block:
            return self.get_nowait()
        try:
            if timeout is not None:
                await_(asyncio.wait_for(self.free.acquire(), timeout))
            else:
                await_(self.free.acquire())
        except TimeoutError as error:
            raise Empty() from error
        return super().get_nowait()


class FairAsyncQueuePool(AsyncAdaptedQueuePool):
    """`AsyncAdaptedQueuePool` whose waiters are served first come, first served."""

    _queue_class: Any = FairQueue
