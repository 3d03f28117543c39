"""In-process event bus: publish after commit, fan out to bounded subscriber queues.

Each event is delivered with its position, the id a subscriber resumes from: here
`<bus>.<sequence>` (the bus's random name, so an id from an earlier process is refused
rather than misread), on the Redis bus the stream entry's id. The bus keeps the last
`resume_window` events so a subscriber that reconnects can be given what it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from domain.errors import ResumeExpiredError, ValidationError
from domain.events import DomainEvent

logger = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 256

# Where an event stands in its bus: two integers, compared as a tuple.
type Ordinal = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Delivery:
    """An event with its position: `position` for clients, `ordinal` to compare."""

    event: DomainEvent
    position: str
    ordinal: Ordinal


def not_an_event_id(position: str) -> ValidationError:
    return ValidationError.single("after", f"{position[:64]!r} is not an event id")


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
        self._queue: asyncio.Queue[Delivery | None] = asyncio.Queue(maxsize=queue_size)
        # Missed events to replay before the queue (a resumed subscription).
        self._backlog: deque[Delivery] = deque()
        # The newest event returned (or resumed after): anything not newer is a repeat.
        self._last: Ordinal | None = None
        self.dropped = False
        self.closed = False
        # The position of the event `__anext__` returned last (None before the first).
        self.position: str | None = None

    def wants(self, event: DomainEvent) -> bool:
        return not self.event_types or isinstance(event, self.event_types)

    def catch_up(self, after: Ordinal, missed: Iterable[Delivery]) -> None:
        """Replay `missed` (oldest first) before live events; skip anything up to `after`."""
        self._last = after
        self._backlog.extend(d for d in missed if d.ordinal > after and self.wants(d.event))

    def _offer(self, delivery: Delivery) -> bool:
        """Queue the event; False (and the subscription is dropped) if the queue is full."""
        try:
            self._queue.put_nowait(delivery)
        except asyncio.QueueFull:
            self.dropped = True
            # The backlog is stale once events are missing: free it, end the iterator.
            self._backlog.clear()
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
        while True:
            if self._backlog:
                delivery = self._backlog.popleft()
            else:
                if self.closed and self._queue.empty():
                    raise StopAsyncIteration
                queued = await self._queue.get()
                if queued is None:
                    raise StopAsyncIteration
                delivery = queued
            # Catching up and going live overlap (the Redis bus reads the stream while the
            # replay is fetched): whatever is not newer than the last event was sent.
            if self._last is not None and delivery.ordinal <= self._last:
                continue
            self._last, self.position = delivery.ordinal, delivery.position
            return delivery.event

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
    """`domain.ports.EventPublisher` for one process; subscribers get bounded queues.

    The last `resume_window` events are kept for `resume`.
    """

    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE, resume_window: int = 0) -> None:
        if queue_size < 1 or resume_window < 0:
            raise ValueError("queue_size must be at least 1, resume_window not negative")
        self._queue_size = queue_size
        self._subscriptions: list[Subscription] = []
        self._name = secrets.token_hex(4)
        self._sequence = 0
        self._window = resume_window
        self._history: deque[Delivery] = deque(maxlen=resume_window)

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

    async def resume(
        self,
        event_types: Collection[type[DomainEvent]],
        after: str,
        *,
        queue_size: int | None = None,
    ) -> Subscription:
        """Like `subscribe`, first replaying the events published after position `after`;
        raises ValidationError (not an id) or ResumeExpiredError (not kept any more)."""
        sequence = self._sequence_of(after)
        # No await from here on: nothing is published between the replay and going live.
        subscription = self.subscribe(event_types, queue_size=queue_size)
        subscription.catch_up((sequence, 0), self._history)
        return subscription

    def _sequence_of(self, position: str) -> int:
        name, _, number = position.rpartition(".")
        if not name or not number.isdecimal() or len(number) > 18:
            raise not_an_event_id(position)
        sequence = int(number)
        # Every event after it must still be kept (and it must be one of this bus's).
        oldest_kept = self._sequence - len(self._history)
        if name != self._name or not oldest_kept <= sequence <= self._sequence:
            raise ResumeExpiredError(position, self._window)
        return sequence

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
            self._sequence += 1
            self.deliver(Delivery(event, f"{self._name}.{self._sequence}", (self._sequence, 0)))

    def deliver(self, delivery: Delivery) -> None:
        """Fan one event out at the position it was given (the Redis bus's stream id)."""
        self._history.append(delivery)
        event = delivery.event
        for subscription in list(self._subscriptions):
            try:
                if subscription.wants(event) and not subscription._offer(delivery):
                    self._unsubscribe(subscription)
                    logger.warning("dropped a slow event subscriber (queue full)")
            except Exception:  # a subscriber's fault must not fail the publisher
                logger.exception("event subscriber failed; dropping it")
                self._unsubscribe(subscription)
