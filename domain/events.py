"""Domain events: facts recorded by aggregates, published after the commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from domain.money import Money


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    occurred_at: datetime = field(default_factory=_now)

    @property
    def name(self) -> str:
        return type(self).__name__


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPlaced(DomainEvent):
    order_id: int
    customer_id: int
    total: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderStatusChanged(DomainEvent):
    order_id: int
    customer_id: int
    previous: str
    current: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemPriceChanged(DomainEvent):
    item_id: int
    previous: Money
    current: Money


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
