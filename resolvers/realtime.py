"""What a subscription needs of its WebSocket connection, as the resolvers see it: the
event source, the session, the per-event loaders and snapshots. The realtime view
(`gateway/realtime/`) provides them on `Context.realtime`."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Protocol, Self

from domain.events import DomainEvent, ItemPriceChanged, OrderPlaced, OrderStatusChanged
from domain.items import Item
from domain.orders import Order
from domain.principals import Principal
from resolvers.loaders import Loaders


class EventStream(Protocol):
    """What an event bus hands a subscriber: a bounded queue read as an async iterator."""

    dropped: bool
    # The id of the event `__anext__` returned last.
    position: str | None

    def __aiter__(self) -> Self: ...

    async def __anext__(self) -> DomainEvent: ...

    def close(self) -> None: ...


class EventSource(Protocol):
    def subscribe(
        self, event_types: Collection[type[DomainEvent]] = (), *, queue_size: int | None = None
    ) -> EventStream:
        """Receive events of these types until the stream is closed."""
        ...

    async def ready(self) -> None:
        """Wait until subscriptions made so far receive every event published from now."""
        ...

    async def resume(
        self,
        event_types: Collection[type[DomainEvent]],
        after: str,
        *,
        queue_size: int | None = None,
    ) -> EventStream:
        """Events published after the one with id `after`, then live ones, each once;
        raises ValidationError (not an id) or ResumeExpiredError (no longer kept)."""
        ...


class Session(Protocol):
    """The subscriber's connection, as the resolvers need it."""

    def permits_delivery(self) -> bool:
        """False once the connection is closing or its token has expired."""
        ...

    def drop_slow_consumer(self) -> None:
        """Close the connection because a subscriber fell too far behind."""
        ...

    async def wait_closed(self) -> None:
        """Return once the connection is closed."""
        ...

    def track(self, stream: EventStream) -> None:
        """Close `stream` when the connection ends, whatever else happens."""
        ...


class Snapshots(Protocol):
    """What each event is about, loaded once per process (`subscriptions.EventSnapshots`)."""

    async def order(self, event: OrderPlaced | OrderStatusChanged) -> Order | None: ...

    async def item(self, event: ItemPriceChanged) -> Item | None: ...


@dataclass(frozen=True, slots=True)
class Realtime:
    """Set on `Context.realtime` by the WebSocket view."""

    events: EventSource
    session: Session
    new_loaders: Callable[[Principal], Loaders]
    snapshots: Snapshots
    queue_size: int | None = None
