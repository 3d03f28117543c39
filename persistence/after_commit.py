"""Publishing committed events in the background, so no answer waits for (or fails on) it.

Services publish after commit; with a hanging Redis, waiting there would hold the
answer of a change that already happened, and a timeout would report it as failed
(clients then retry and order twice). `BackgroundPublisher` takes the batch and
returns at once; one worker task hands batches to the real publisher in commit order,
each bounded in time, and logs what it could not deliver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from domain.events import DomainEvent
from domain.ports import EventPublisher

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_BACKLOG = 10_000


class BackgroundPublisher:
    """`domain.ports.EventPublisher` that never blocks: batches go out in order, bounded.

    A batch that cannot be published within `timeout_seconds`, or that finds
    `backlog` batches already waiting, is dropped and logged: subscribers miss it,
    the committed change stands.
    """

    def __init__(
        self,
        inner: EventPublisher,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        backlog: int = DEFAULT_BACKLOG,
    ) -> None:
        if timeout_seconds <= 0 or backlog < 1:
            raise ValueError("timeout_seconds must be positive and backlog at least 1")
        self._inner = inner
        self._timeout = timeout_seconds
        self._backlog = backlog
        self._queue: asyncio.Queue[Sequence[DomainEvent]] = asyncio.Queue(maxsize=backlog)
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.dropped = 0

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        """Queue the batch for the worker; never waits, never raises."""
        if not events:
            return
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A queue and its worker belong to one event loop (tests run several).
            self._loop, self._worker = loop, None
            self._queue = asyncio.Queue(maxsize=self._backlog)
        try:
            self._queue.put_nowait(list(events))
        except asyncio.QueueFull:
            self.dropped += len(events)
            logger.error("event backlog full: dropped %d committed event(s)", len(events))
            return
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._run(), name="after-commit-publisher")

    async def _run(self) -> None:
        while True:
            batch = await self._queue.get()
            try:
                async with asyncio.timeout(self._timeout):
                    await self._inner.publish(batch)
            except TimeoutError:
                self.dropped += len(batch)
                logger.error(
                    "publishing %d committed event(s) took over %gs: dropped",
                    len(batch),
                    self._timeout,
                )
            except Exception:  # the change is committed; keep serving the next batches
                self.dropped += len(batch)
                logger.exception("publishing %d committed event(s) failed", len(batch))
            finally:
                self._queue.task_done()

    async def drain(self, timeout_seconds: float) -> None:
        """Wait until every queued batch was handed over (or `timeout_seconds` pass)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_seconds):
                await self._queue.join()

    async def aclose(self, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        """Drain, then stop the worker."""
        await self.drain(timeout_seconds)
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
