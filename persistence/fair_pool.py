"""A connection pool that hands its connections out in the order they were asked for.

SQLAlchemy's asyncio pool queue takes a free connection at once when one is there, even
while other coroutines are waiting for one, and a waiter woken for a connection that
someone else took goes to the back of the line. Under load past the pool the same few
requests then wait again and again, which more than doubled p99 (measured in
docs/benchmarks/design-notes.md).

Here a FIFO semaphore counts the free connections: a connection goes to whoever has
waited longest, and nobody takes one past a waiter (`asyncio.Semaphore` has been fair
since Python 3.11). The queue keeps its free connections itself, so the pool can tell
which one a checkout would take now (`FairAsyncQueuePool.ready`): the planned reads
check a ready one out without a greenlet (persistence.driver_reads), and lend it
(`FairAsyncQueuePool.lend`) without building a new proxy for every checkout.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from typing import Any

from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.pool.base import _ConnectionFairy, _ConnectionRecord
from sqlalchemy.util.concurrency import await_
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty, Full


class FairQueue(AsyncAdaptedQueue[ConnectionPoolEntry]):
    """The pool's queue of free connections, served first come, first served."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self._entries: deque[ConnectionPoolEntry] = deque()
        self._free: asyncio.Semaphore | None = None

    @property
    def free(self) -> asyncio.Semaphore:
        # Created on first use, inside the event loop that runs the pool.
        if self._free is None:
            self._free = asyncio.Semaphore(0)
        return self._free

    def empty(self) -> bool:
        return not self._entries

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._entries)

    def qsize(self) -> int:
        return len(self._entries)

    def put_nowait(self, item: ConnectionPoolEntry) -> None:
        if self.full():  # an overflow connection: the pool closes it
            raise Full()
        self._entries.append(item)
        self.free.release()

    def put(
        self, item: ConnectionPoolEntry, block: bool = True, timeout: float | None = None
    ) -> None:
        # Never blocks: the pool returns a connection with block=False, and more
        # connections than the queue holds are never checked out at once.
        self.put_nowait(item)

    def next_free(self) -> ConnectionPoolEntry | None:
        """The entry `get` would hand out now without waiting; None when none is free or
        others are waiting first."""
        if self.free.locked():
            return None
        return self._entries[-1] if self.use_lifo else self._entries[0]

    def get_nowait(self) -> ConnectionPoolEntry:
        if self.free.locked():  # none free, or others are waiting first
            raise Empty()
        _acquire_at_once(self.free)
        return self._take()

    def get(self, block: bool = True, timeout: float | None = None) -> ConnectionPoolEntry:
        if not block or not self.free.locked():
            return self.get_nowait()
        try:
            if timeout is not None:
                await_(asyncio.wait_for(self.free.acquire(), timeout))
            else:
                await_(self.free.acquire())
        except TimeoutError as error:
            raise Empty() from error
        return self._take()

    def _take(self) -> ConnectionPoolEntry:
        return self._entries.pop() if self.use_lifo else self._entries.popleft()


def _acquire_at_once(free: asyncio.Semaphore) -> None:
    # An unlocked semaphore's acquire() returns without suspending: run it here rather
    # than through a greenlet switch to the event loop and back.
    acquiring = free.acquire()
    try:
        acquiring.send(None)
    except StopIteration:
        return
    acquiring.close()
    raise RuntimeError("the pool's semaphore was taken while it looked free")


class FairAsyncQueuePool(AsyncAdaptedQueuePool):
    """`AsyncAdaptedQueuePool` whose waiters are served first come, first served."""

    _queue_class: Any = FairQueue

    def ready(self) -> ConnectionPoolEntry | None:
        """The free connection a checkout would take now without waiting or reconnecting
        (free with nobody waiting first, connected, not due for recycling); else None.

        Checkout listeners still run on it (a ping after idle may be due)."""
        queue = self._pool
        assert isinstance(queue, FairQueue)  # the class's `_queue_class`
        entry = queue.next_free()
        if entry is None or entry.dbapi_connection is None:
            return None  # none free, or invalidated: the checkout reconnects
        if self._recycle > -1 or self._pre_ping:
            return None
        # What `_ConnectionRecord.get_connection` compares to decide on reconnecting:
        # the pool's or the record's own invalidation since the connection was opened.
        started: float = getattr(entry, "starttime", 0.0)
        invalidated: float = getattr(entry, "_soft_invalidate_time", 0.0)
        if self._invalidate_time > started or invalidated > started:
            return None
        return entry

    def lend(self, entry: ConnectionPoolEntry) -> PoolProxiedConnection:
        """Check out `entry`, which `ready` has just named (nothing awaited since), as a
        checkout does, but without a new `_ConnectionFairy` and its finalizer: the pool's
        queue and semaphore, its `checkedout()` count and the `checkout` event as always,
        the event given the entry's own proxy (kept with the entry while its connection
        lives). Give it back with `give_back`; the caller guarantees it is given back or
        invalidated (no garbage-collection safety net, which a fairy brings).

        A fairy's construction, finalizer and check-in (reset included) were about a
        tenth of a planned read by id (docs/benchmarks/design-notes.md)."""
        assert isinstance(entry, _ConnectionRecord)
        queue = self._pool
        assert isinstance(queue, FairQueue)  # the class's `_queue_class`
        taken = queue.get_nowait()
        assert taken is entry, "the pool's next free connection changed under a lend"
        connection = entry.dbapi_connection
        proxy: _ConnectionFairy | None = entry.info.get(_PROXY)
        if proxy is None or proxy.dbapi_connection is not connection:
            assert connection is not None  # `ready` names connected entries only
            proxy = _ConnectionFairy(self, connection, entry, False)
            # The entry keeps its proxy while its connection lives, so the proxy is never
            # collected while the entry is lent (its finalizer checks in only an entry
            # whose proxy was collected: `needs_gc`).
            entry.info[_PROXY] = proxy
        # Lent, to the pool (`in_use`) and to a double check-in's check.
        entry.fairy_ref = weakref.ref(proxy)
        entry.fresh = False
        if self.dispatch.checkout:
            try:
                self.dispatch.checkout(connection, entry, proxy)
            except BaseException:
                entry.checkin()
                raise
        return proxy

    def give_back(self, entry: ConnectionPoolEntry) -> None:
        """Check a lent entry in: the `checkin` event and the queue, as a fairy's check-in
        after a reset that has nothing to roll back (the lent connection began no
        transaction through the dialect: the planned reads use the driver itself)."""
        assert isinstance(entry, _ConnectionRecord)
        entry.checkin()

    def discard_lent(self, entry: ConnectionPoolEntry, error: BaseException | None) -> None:
        """Close a lent entry's connection for good (reconnected at its next checkout) and
        check the entry in, as a proxy's `invalidate` does; in a greenlet (the dialect
        may await the driver)."""
        assert isinstance(entry, _ConnectionRecord)
        entry.invalidate(error)
        entry.checkin()

    @property
    def lends(self) -> bool:
        """Whether `lend` keeps the pool's contract: no `reset` listener would be skipped."""
        return not self.dispatch.reset


# Key in a pool entry's `info` (cleared when the entry reconnects): its lent proxy.
_PROXY = "gw_lent_proxy"
