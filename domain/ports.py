"""Ports: what the domain needs from the outside world, as Protocols.

Persistence provides a SQL adapter for each (SQLite or Postgres); messaging and
caching ports have an in-process and a Redis adapter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

from domain.audit import AuditContext, AuditEntry, AuditFilter, AuditRecord
from domain.events import DomainEvent
from domain.items import Item
from domain.mail import MailMessage
from domain.model import Through
from domain.orders import Order
from domain.paging import Page, PageRequest
from domain.specifications import Specification
from domain.users import Email, User


class Repository[T](Protocol):
    """Generic access to one aggregate type by integer id."""

    async def get(self, key: int, *, for_update: bool = False) -> T | None:
        """The aggregate with this id, or None.

        `for_update` locks its row until the unit of work ends: a concurrent locker
        waits, then reads what this one committed.
        """
        ...

    async def lock_many(self, keys: Sequence[int]) -> Mapping[int, T]:
        """`get_many` with every row locked, taken in id order so lockers never deadlock."""
        ...

    async def get_many(self, keys: Sequence[int]) -> Mapping[int, T]:
        """Every aggregate among `keys` that exists, in one round trip."""
        ...

    async def add(self, entity: T) -> None:
        """Store a new aggregate and give it its id."""
        ...

    async def save(self, entity: T, *, only_if: Specification | None = None) -> None:
        """Write back a changed aggregate.

        With `only_if`, a compare-and-set: the write happens only if the stored
        aggregate still satisfies it, otherwise StaleStateError and nothing is written.
        """
        ...

    async def page(self, spec: Specification, request: PageRequest) -> Page[T]:
        """One keyset page of the aggregates that satisfy `spec`."""
        ...

    async def count(self, spec: Specification) -> int:
        """How many aggregates satisfy `spec`."""
        ...


class UserRepository(Repository[User], Protocol):
    async def by_email(self, email: Email) -> User | None:
        """The user with this (case-insensitive) email, or None."""
        ...


class ItemRepository(Repository[Item], Protocol):
    async def delete(self, entity: Item) -> None:
        """Remove an item that no order references."""
        ...

    async def is_referenced(self, key: int) -> bool:
        """Whether any order line references the item."""
        ...


class EntityRepository(Repository[Any], Protocol):
    """The repository of a declared entity (`domain.model.EntityModel`)."""

    async def delete(self, entity: Any) -> None:
        """Remove the entity; raises ConflictError while others refer to it."""
        ...

    async def page_per(
        self, key: str, owners: Sequence[int], spec: Specification, request: PageRequest
    ) -> Mapping[int, Page[Any]]:
        """A page of the entities whose `key` is each of `owners`, in one statement."""
        ...

    async def count_per(
        self, key: str, owners: Sequence[int], spec: Specification
    ) -> Mapping[int, int]:
        """How many entities satisfying `spec` each of `owners` has under `key`."""
        ...

    async def rows_per(
        self, key: str, owners: Sequence[int], spec: Specification
    ) -> Mapping[int, Sequence[Any]]:
        """Every entity satisfying `spec` whose `key` is each of `owners`, by id."""
        ...

    async def page_through(
        self, through: Through, owners: Sequence[int], spec: Specification, request: PageRequest
    ) -> Mapping[int, Page[Any]]:
        """A page per owner of the entities its association rows (`through`) link it
        to, each entity once however often linked, in one statement."""
        ...

    async def count_through(
        self, through: Through, owners: Sequence[int], spec: Specification
    ) -> Mapping[int, int]:
        """How many entities satisfying `spec` each owner is linked to through `through`."""
        ...


class UnitOfWork(Protocol):
    """One transaction over every repository; events are collected on commit."""

    users: UserRepository
    items: ItemRepository

    @property
    def orders(self) -> Repository[Order]:
        """The declared `Order`'s repository: orders are loaded and stored with their
        lines."""
        ...

    def repository(self, entity: str) -> EntityRepository:
        """The repository of a declared entity; raises KeyError for an unknown name."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None:
        """Commit the transaction; raises ConflictError on a write conflict."""
        ...

    async def rollback(self) -> None: ...

    def record(self, event: DomainEvent) -> None:
        """An event no aggregate recorded (a deletion), stored with the next commit."""
        ...

    def collect_events(self) -> list[DomainEvent]:
        """The events the last commits stored (aggregates' and `record`ed), in order."""
        ...

    def audit(self, record: AuditRecord) -> None:
        """A security event (or any record no repository made), stored with the next commit."""
        ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, read_only: bool = False) -> UnitOfWork: ...

    def on_behalf_of(self, context: AuditContext) -> UnitOfWorkFactory:
        """A factory whose units of work record their changes as made by `context`."""
        ...


class AuditLog(Protocol):
    """The stored audit trail: read newest first, never changed, purged when old."""

    async def page(self, spec: AuditFilter, request: PageRequest) -> Page[AuditEntry]:
        """One keyset page of matching entries, newest (highest id) first."""
        ...

    async def count(self, spec: AuditFilter) -> int:
        """How many entries match."""
        ...

    async def purge(self, before: datetime) -> int:
        """Delete the entries that occurred before `before`; how many went."""
        ...


class EventPublisher(Protocol):
    async def publish(self, events: Sequence[DomainEvent]) -> None:
        """Hand committed events on; never raises for a subscriber's fault.

        Services call it after commit with `collect_events()`. In the gateway it is the
        outbox relay, which only wakes up: the commit already stored the events.
        """
        ...


class Mailer(Protocol):
    async def send(self, message: MailMessage) -> None:
        """Hand the message to the mail server; raises on failure (the caller retries)."""
        ...
