"""Domain events: facts recorded by aggregates, published after the commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from domain.money import Money


def _now() -> datetime:
    return datetime.now(UTC)


def new_event_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """A fact, delivered at least once: `event_id` lets a consumer ignore a repeat."""

    occurred_at: datetime = field(default_factory=_now)
    event_id: str = field(default_factory=new_event_id)

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def aggregate(self) -> str:
        """What the event is about (`Order:7`): events of one aggregate keep their order."""
        return ""

    @property
    def deliver_after(self) -> datetime | None:
        """Not published before this time (a delayed job); None: as soon as committed."""
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPlaced(DomainEvent):
    order_id: int
    customer_id: int
    total: Money

    @property
    def aggregate(self) -> str:
        return f"Order:{self.order_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderStatusChanged(DomainEvent):
    order_id: int
    customer_id: int
    previous: str
    current: str

    @property
    def aggregate(self) -> str:
        return f"Order:{self.order_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemPriceChanged(DomainEvent):
    item_id: int
    previous: Money
    current: Money

    @property
    def aggregate(self) -> str:
        return f"Item:{self.item_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityChanged(DomainEvent):
    """A declared entity was created, updated or deleted (published after the commit).

    `entity` is the declared name; `name` reads `<Entity>Created` and so on.
    """

    entity: str
    key: int

    @property
    def name(self) -> str:
        return f"{self.entity}{type(self).__name__.removeprefix('Entity')}"

    @property
    def aggregate(self) -> str:
        return f"{self.entity}:{self.key}"


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityCreated(EntityChanged):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityUpdated(EntityChanged):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityDeleted(EntityChanged):
    pass


class RecordsEvents:
    """Mixin for aggregates: events wait here until the unit of work collects them."""

    _events: list[DomainEvent]

    def record(self, event: DomainEvent) -> None:
        if not hasattr(self, "_events"):
            self._events = []
        self._events.append(event)

    def pull_events(self) -> list[DomainEvent]:
        events = getattr(self, "_events", [])
        self._events = []
        return events
