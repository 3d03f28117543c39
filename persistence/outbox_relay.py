"""The outbox relay: committed events out of the outbox, in order, at least once.

One relay runs in every gateway process (and worker); on Postgres an advisory lock held
for each batch lets one of them publish at a time, so events leave in outbox order
(which, for one aggregate, is commit order: its changes hold its row lock). On SQLite,
the embedded single-process default, the relays of the process take turns. A batch is
marked published after the sink accepted it (within `publish_timeout_seconds`): a
crash in between publishes it again (consumers dedupe on `event_id`).

Units of work wake the relay after each commit that wrote events; it also polls, so
events committed by another process, or left by one that died, go out too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.events import DomainEvent
from domain.ports import EventPublisher
from persistence import outbox
from persistence.database import BACKGROUND
from persistence.outages import Outage

logger = logging.getLogger(__name__)

# Any constant shared by every relay; names this lock among the database's advisory locks.
ADVISORY_LOCK_KEY = 0x6F7574626F78  # "outbox"
MAX_BACKOFF_SECONDS = 30.0

# Per event loop, per database URL: the turn of this process's relays.
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)

type Clock = Callable[[], datetime]
type FaultHook = Callable[[str], None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _cancel_elsewhere(task: asyncio.Task[None] | None) -> None:
    """Cancel a task of another (possibly stopped) event loop."""
    if task is None or task.done():
        return
    loop = task.get_loop()
    if loop.is_closed():
        return
    if loop is asyncio.get_running_loop():
        task.cancel()
    else:
        loop.call_soon_threadsafe(task.cancel)


class OutboxRelay:
    """Moves outbox rows to `sink`; as an `EventPublisher` it only wakes (events are stored).

    `fault` is called at "before_publish" and "after_publish" (tests crash there).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        sink: EventPublisher,
        *,
        batch_size: int = 100,
        poll_seconds: float = 1.0,
        retention: timedelta = timedelta(days=7),
        purge_every: timedelta = timedelta(minutes=10),
        publish_timeout_seconds: float = 5.0,
        clock: Clock = _utcnow,
        fault: FaultHook | None = None,
    ) -> None:
        if batch_size < 1 or poll_seconds <= 0:
            raise ValueError("batch_size must be at least 1 and poll_seconds positive")
        # Marked as background work: left out of request statement counts (N+1 guards).
        self._engine, self._sink = engine.execution_options(**{BACKGROUND: True}), sink
        self._batch_size, self._poll_seconds = batch_size, poll_seconds
        self._retention, self._purge_every = retention, purge_every
        self._clock, self._fault = clock, fault
        self._publish_timeout = publish_timeout_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None
        self._next_purge: datetime | None = None
        self._closed = False
        self._outage = Outage("database or event stream", component="outbox relay")
        self.published = 0

    # -- domain.ports.EventPublisher ------------------------------------------------

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        """The events were written with their commit; make the relay look now."""
        if events:
            self.wake()

    # -- running -----------------------------------------------------------------------

    def wake(self) -> None:
        """Start the relay in the running loop if needed, and have it read the outbox now."""
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        if loop is not self._loop or self._wakeup is None:
            # A task and its event belong to one loop (tests run several): the old
            # loop's task is stopped, so nothing of it runs once that loop is gone.
            _cancel_elsewhere(self._task)
            self._loop, self._task, self._wakeup = loop, None, asyncio.Event()
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(self._wakeup), name="outbox-relay")

    async def _run(self, wakeup: asyncio.Event) -> None:
        failures = 0
        while not self._closed:
            wakeup.clear()
            try:
                while await self.relay_once() == self._batch_size:
                    pass
                await self._purge_if_due()
                failures = 0
                delay = self._poll_seconds
            except Exception as error:  # Redis or the database away: keep the rows, retry
                failures += 1
                delay = min(MAX_BACKOFF_SECONDS, self._poll_seconds * 2**failures)
                # One line when it starts, a summary while it lasts (persistence.outages).
                self._outage.failed(error)
            else:
                self._outage.succeeded()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await wakeup.wait()

    async def relay_once(self) -> int:
        """Publish the oldest unpublished batch; how many events it held (0: none, or busy)."""
        async with self._local_lock(), self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # A session lock, not a transaction's: no transaction stays open (and no
                # row locked) while the sink is waited for.
                locked = await conn.scalar(
                    sa.select(sa.func.pg_try_advisory_lock(ADVISORY_LOCK_KEY))
                )
                await conn.commit()
                if not locked:
                    return 0
                try:
                    return await self._move_batch(conn)
                finally:
                    await self._unlock(conn)
            return await self._move_batch(conn)

    @staticmethod
    async def _unlock(conn: AsyncConnection) -> None:
        try:
            await conn.rollback()
            await conn.execute(sa.select(sa.func.pg_advisory_unlock(ADVISORY_LOCK_KEY)))
            await conn.commit()
        except BaseException:
            # A pooled connection still holding the lock would stop every relay: closed,
            # the server releases it.
            await conn.invalidate()
            raise

    async def _move_batch(self, conn: AsyncConnection) -> int:
        # Read, publish and mark in separate short transactions: SQLite's write lock is
        # never held while Redis or a handler is waited for.
        batch = await outbox.pending(conn, self._batch_size, self._clock())
        await conn.commit()
        if not batch:
            return 0
        for unreadable in (p for p in batch if p.event is None):
            # Kept back, it would hold every later event forever: logged, passed over.
            logger.error(
                "outbox event %s cannot be read (%s); skipped",
                unreadable.event_id,
                unreadable.error,
            )
        events = [p.event for p in batch if p.event is not None]
        self._at("before_publish")
        async with asyncio.timeout(self._publish_timeout):
            await self._sink.publish(events)
        self._at("after_publish")
        await outbox.mark_published(conn, [p.row_id for p in batch], self._clock())
        await conn.commit()
        self.published += len(events)
        return len(batch)

    def _local_lock(self) -> asyncio.Lock:
        # Relays of one process over one database take turns (SQLite has no advisory
        # lock; one process serves it). A lock belongs to one event loop: tests run several.
        locks = _LOCKS.setdefault(asyncio.get_running_loop(), {})
        return locks.setdefault(self._engine.url.render_as_string(), asyncio.Lock())

    async def drain(self) -> int:
        """Publish everything pending now (shutdown, tests); how many events went out."""
        total = 0
        while (count := await self.relay_once()) > 0:
            total += count
        return total

    async def purge(self) -> int:
        """Delete events published longer than the retention period ago; how many."""
        async with self._engine.begin() as conn:
            return await outbox.purge(conn, self._clock() - self._retention)

    async def _purge_if_due(self) -> None:
        now = self._clock()
        if self._next_purge is None or now >= self._next_purge:
            self._next_purge = now + self._purge_every
            removed = await self.purge()
            if removed:
                logger.info("purged %d published outbox event(s)", removed)

    def _at(self, point: str) -> None:
        if self._fault is not None:
            self._fault(point)

    async def aclose(self, timeout_seconds: float = 5.0) -> None:
        """Stop after the batch in flight (cancelled past `timeout_seconds`); unpublished
        rows stay for the next start."""
        self._closed = True
        task, self._task = self._task, None
        if task is None or task.done():
            return
        if task.get_loop() is not asyncio.get_running_loop():
            _cancel_elsewhere(task)
            return
        if self._wakeup is not None:
            self._wakeup.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout_seconds)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
