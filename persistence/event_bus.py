"""In-process event bus: publish after commit, fan out to bounded subscriber queues."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection, Sequence
from types import TracebackType
from typing import Self

from domain.events import DomainEvent

logger = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 256


class Subscription:
    """An async iterator of events; it ends when closed or when it fell too far behind.

    `dropped` is True when the bus dropped this subscriber for a full queue: the
    consumer was too slow and has missed events, so it must resynchronise.
    """

    def __init__(
        self,
        bus: InProcessEventBus,
        event_types: tuple[type[DomainEvent], ...],
        queue_size: int,
    ) -> None:
        self._bus = bus
        self.event_types = event_types
        self._queue: asyncio.Queue[DomainEvent | None] = asyncio.Queue(maxsize=queue_size)
        self.dropped = False
        self.closed = False

    def wants(self, event: DomainEvent) -> bool:
        return not self.event_types or isinstance(event, self.event_types)

    def _offer(self, event: DomainEvent) -> bool:
        """Queue the event; False (and the subscription is dropped) if the queue is full."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped = True
            # The backlog is stale once events are missing: free it, end the iterator.
            while not self._queue.empty():
                self._queue.get_nowait()
            self._end()
            return False
        return True

    def _end(self) -> None:
        self.closed = True
        # The end marker wakes a consumer waiting on an empty queue; a full queue has
        # no waiting consumer, and __anext__ sees `closed` once it has drained it.
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    def close(self) -> None:
        """Stop receiving events; queued ones can still be read, then iteration ends."""
        if not self.closed:
            self._bus._unsubscribe(self)
            self._end()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> DomainEvent:
        if self.closed and self._queue.empty():
            raise StopAsyncIteration
        event = await self._queue.get()
        if event is None:
            raise StopAsyncIteration
        return event

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class InProcessEventBus:
    """`domain.ports.EventPublisher` for one process; subscribers get bounded queues."""

    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self._queue_size = queue_size
        self._subscriptions: list[Subscription] = []

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def subscribe(
        self, event_types: Collection[type[DomainEvent]] = (), *, queue_size: int | None = None
    ) -> Subscription:
        """Receive events of these types (all events if none are named) until closed."""
        subscription = Subscription(self, tuple(event_types), queue_size or self._queue_size)
        self._subscriptions.append(subscription)
        return subscription

    async def ready(self) -> None:
        """Subscriptions are live as soon as `subscribe` returns (the Redis bus must wait)."""

    def close_all(self) -> None:
        """End every subscription (shutdown): iterators finish after their queued events."""
        for subscription in list(self._subscriptions):
            subscription.close()

    def _unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        """Fan events out; a slow subscriber is dropped, never waited for, never raised."""
        for event in events:
            for subscription in list(self._subscriptions):
                try:
                    if subscription.wants(event) and not subscription._offer(event):
                        self._unsubscribe(subscription)
                        logger.warning("dropped a slow event subscriber (queue full)")
                except Exception:  # a subscriber's fault must not fail the publisher
                    logger.exception("event subscriber failed; dropping it")
                    self._unsubscribe(subscription)
