"""In-memory fakes of the domain ports, for service tests.

A unit of work loads copies of the stored aggregates and writes them back only on
commit, so an aborted unit of work leaves the store as it was, as a database would.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, Self, cast

from domain import paging, ports, specifications
from domain.audit import SYSTEM, AuditContext, AuditRecord
from domain.errors import ConflictError, StaleStateError
from domain.events import DomainEvent, RecordsEvents
from domain.items import Item
from domain.model import Through
from domain.orders import Order
from domain.users import Email, User


class _Identified(Protocol):
    id: int


def _detached[T](entity: T) -> T:
    # A stored row carries no pending events; only the unit of work that records them does.
    clone = copy.deepcopy(entity)
    if isinstance(clone, RecordsEvents):
        clone.pull_events()
    return clone


@dataclass
class FakeStore:
    """The committed state, shared by every unit of work of one factory."""

    users: dict[int, User] = field(default_factory=dict)
    items: dict[int, Item] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    # Declared entities, by entity name.
    entities: dict[str, dict[int, object]] = field(default_factory=dict)
    # Committed audit records (security events: the fakes record no repository changes).
    audit: list[tuple[AuditContext, AuditRecord]] = field(default_factory=list)
    next_id: int = 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


type _SortKey = tuple[tuple[int, paging.CursorValue], int]


def _order_key(entity: _Identified, sort: paging.Sort) -> _SortKey:
    value = paging.sort_key(getattr(entity, sort.field))
    # NULLs sort last ascending, as in PostgreSQL.
    return ((1, None) if value is None else (0, value)), entity.id


def _cursor_key(cursor: paging.Cursor) -> _SortKey:
    return ((1, None) if cursor.key is None else (0, cursor.key)), cursor.id


def keyset_page[T: _Identified](
    rows: Sequence[T], spec: specifications.Specification, request: paging.PageRequest
) -> paging.Page[T]:
    """Filter with the specification, sort with the id as tie-breaker, slice after the cursor."""
    descending = request.sort.direction is paging.Direction.DESC
    matching = sorted(
        (row for row in rows if spec.is_satisfied_by(row)),
        key=lambda row: _order_key(row, request.sort),
        reverse=descending,
    )
    if request.after is not None:
        after = _cursor_key(request.after)
        matching = [
            row
            for row in matching
            if (
                after > _order_key(row, request.sort)
                if descending
                else _order_key(row, request.sort) > after
            )
        ]
    chosen = matching[: request.first]
    return paging.Page(
        items=chosen,
        cursors=[
            paging.Cursor(paging.sort_key(getattr(row, request.sort.field)), row.id)
            for row in chosen
        ],
        has_next_page=len(matching) > request.first,
        has_previous_page=request.after is not None,
    )


class FakeRepository[T: _Identified]:
    def __init__(
        self,
        rows: dict[int, T],
        store: FakeStore,
        touched: list[object],
        committed: Callable[[], Mapping[int, T]],
    ) -> None:
        self._rows, self._store, self._touched = rows, store, touched
        # The committed rows, which a database's compare-and-set compares with.
        self._committed = committed

    def _touch(self, entity: T) -> T:
        if not any(seen is entity for seen in self._touched):
            self._touched.append(entity)
        return entity

    async def get(self, key: int, *, for_update: bool = False) -> T | None:
        # One unit of work at a time runs on a fake: nothing to lock.
        entity = self._rows.get(key)
        return None if entity is None else self._touch(entity)

    async def lock_many(self, keys: Sequence[int]) -> Mapping[int, T]:
        return await self.get_many(keys)

    async def get_many(self, keys: Sequence[int]) -> Mapping[int, T]:
        return {key: self._touch(self._rows[key]) for key in keys if key in self._rows}

    async def add(self, entity: T) -> None:
        entity.id = self._store.new_id()
        self._rows[entity.id] = self._touch(entity)

    async def save(self, entity: T, *, only_if: specifications.Specification | None = None) -> None:
        if entity.id not in self._rows:
            raise AssertionError(f"save of an entity that was never added: {entity.id}")
        stored = self._committed().get(entity.id)
        if only_if is not None and (stored is None or not only_if.is_satisfied_by(stored)):
            raise StaleStateError(type(entity).__name__.lower(), entity.id)
        self._rows[entity.id] = self._touch(entity)

    async def page(
        self, spec: specifications.Specification, request: paging.PageRequest
    ) -> paging.Page[T]:
        result = keyset_page(list(self._rows.values()), spec, request)
        for entity in result.items:
            self._touch(entity)
        return result

    async def count(self, spec: specifications.Specification) -> int:
        return sum(1 for row in self._rows.values() if spec.is_satisfied_by(row))


class FakeUserRepository(FakeRepository[User]):
    async def by_email(self, email: Email) -> User | None:
        found = [user for user in self._rows.values() if user.email == email]
        return self._touch(found[0]) if found else None


class FakeItemRepository(FakeRepository[Item]):
    def __init__(
        self,
        rows: dict[int, Item],
        store: FakeStore,
        touched: list[object],
        orders: dict[int, Order],
    ) -> None:
        super().__init__(rows, store, touched, lambda: store.items)
        self._orders = orders

    async def delete(self, entity: Item) -> None:
        del self._rows[entity.id]

    async def is_referenced(self, key: int) -> bool:
        return any(line.item_id == key for order in self._orders.values() for line in order.lines)


class FakeEntityRepository(FakeRepository[_Identified]):
    """Any declared entity (`domain.ports.EntityRepository`), rows kept by the store."""

    async def delete(self, entity: _Identified) -> None:
        del self._rows[entity.id]

    async def page_per(
        self,
        key: str,
        owners: Sequence[int],
        spec: specifications.Specification,
        request: paging.PageRequest,
    ) -> Mapping[int, paging.Page[_Identified]]:
        return {
            owner: await self.page(spec & (specifications.field(key) == owner), request)
            for owner in owners
        }

    async def count_per(
        self, key: str, owners: Sequence[int], spec: specifications.Specification
    ) -> Mapping[int, int]:
        return {
            owner: await self.count(spec & (specifications.field(key) == owner)) for owner in owners
        }

    async def rows_per(
        self, key: str, owners: Sequence[int], spec: specifications.Specification
    ) -> Mapping[int, Sequence[_Identified]]:
        mine = {owner: spec & (specifications.field(key) == owner) for owner in owners}
        return {
            owner: [
                self._touch(row)
                for _, row in sorted(self._rows.items())
                if wanted.is_satisfied_by(row)
            ]
            for owner, wanted in mine.items()
        }

    def _linked(self, through: Through, owner: int) -> specifications.Specification:
        # The fakes name columns as attributes (no declared `columns`).
        links = self._store.entities.get(through.entity, {}).values()
        targets = {
            getattr(link, through.target_key)
            for link in links
            if getattr(link, through.key) == owner
        }
        return specifications.field("id").is_in(sorted(targets))

    async def page_through(
        self,
        through: Through,
        owners: Sequence[int],
        spec: specifications.Specification,
        request: paging.PageRequest,
    ) -> Mapping[int, paging.Page[_Identified]]:
        return {
            owner: await self.page(spec & self._linked(through, owner), request) for owner in owners
        }

    async def count_through(
        self, through: Through, owners: Sequence[int], spec: specifications.Specification
    ) -> Mapping[int, int]:
        return {owner: await self.count(spec & self._linked(through, owner)) for owner in owners}


class FakeUnitOfWork:
    """One transaction over copies of the store; `commit` writes the copies back."""

    users: ports.UserRepository
    items: ports.ItemRepository

    def __init__(
        self,
        store: FakeStore,
        *,
        read_only: bool,
        commit_error: Callable[[], Exception | None],
        context: AuditContext = SYSTEM,
    ) -> None:
        self._store, self.read_only, self._commit_error = store, read_only, commit_error
        self._context = context
        self._audit: list[AuditRecord] = []
        self.committed = False
        self._touched: list[object] = []
        self._recorded: list[DomainEvent] = []
        self._users = {key: _detached(user) for key, user in store.users.items()}
        self._items = {key: _detached(item) for key, item in store.items.items()}
        self._orders = {key: _detached(order) for key, order in store.orders.items()}
        self.users = FakeUserRepository(self._users, store, self._touched, lambda: store.users)
        self.items = FakeItemRepository(self._items, store, self._touched, self._orders)
        # The declared `Order`'s rows: kept apart, as items read them (`is_referenced`).
        self._order_rows = FakeEntityRepository(
            self._orders,  # type: ignore[arg-type]  # an order has an id
            store,
            self._touched,
            lambda: store.orders,
        )
        self._entities: dict[str, dict[int, _Identified]] = {
            name: {key: _detached(row) for key, row in rows.items()}  # type: ignore[misc]  # rows of a declared entity have an id
            for name, rows in store.entities.items()
        }

    @property
    def orders(self) -> ports.Repository[Order]:
        return cast("ports.Repository[Order]", self._order_rows)

    def repository(self, entity: str) -> FakeEntityRepository:
        if entity == "Order":
            return self._order_rows
        rows = self._entities.setdefault(entity, {})
        store = self._store
        return FakeEntityRepository(
            rows,
            store,
            self._touched,
            lambda: store.entities.get(entity, {}),  # type: ignore[arg-type, return-value]  # rows of a declared entity have an id
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.committed:
            await self.rollback()

    async def commit(self) -> None:
        if self.read_only:
            raise AssertionError("commit in a read-only unit of work")
        error = self._commit_error()
        if error is not None:
            raise error
        self._store.users = {key: _detached(user) for key, user in self._users.items()}
        self._store.items = {key: _detached(item) for key, item in self._items.items()}
        self._store.orders = {key: _detached(order) for key, order in self._orders.items()}
        self._store.entities = {
            name: {key: _detached(row) for key, row in rows.items()}
            for name, rows in self._entities.items()
        }
        self._store.audit.extend((self._context, record) for record in self._audit)
        self._audit = []
        self.committed = True

    async def rollback(self) -> None:
        self._touched.clear()

    def record(self, event: DomainEvent) -> None:
        self._recorded.append(event)

    def audit(self, record: AuditRecord) -> None:
        if self.read_only:
            raise AssertionError("audit in a read-only unit of work")
        self._audit.append(record)

    def collect_events(self) -> list[DomainEvent]:
        recorded, self._recorded = self._recorded, []
        return [
            event
            for entity in self._touched
            if isinstance(entity, RecordsEvents)
            for event in entity.pull_events()
        ] + recorded


class FakeUnitOfWorkFactory:
    """Opens FakeUnitOfWorks over one shared store; `fail_next_commit` simulates a conflict."""

    def __init__(self, store: FakeStore | None = None, context: AuditContext = SYSTEM) -> None:
        self.store = store or FakeStore()
        self.context = context
        self.opened: list[FakeUnitOfWork] = []
        self._next_commit_error: Exception | None = None

    def on_behalf_of(self, context: AuditContext) -> FakeUnitOfWorkFactory:
        bound = copy.copy(self)
        bound.context = context
        return bound

    def fail_next_commit(self, error: Exception | None = None) -> None:
        self._next_commit_error = error or ConflictError("write conflict")

    def _take_commit_error(self) -> Exception | None:
        error, self._next_commit_error = self._next_commit_error, None
        return error

    def __call__(self, *, read_only: bool = False) -> ports.UnitOfWork:
        uow = FakeUnitOfWork(
            self.store,
            read_only=read_only,
            commit_error=self._take_commit_error,
            context=self.context,
        )
        self.opened.append(uow)
        return uow

    def add_user(self, user: User) -> User:
        user.id = self.store.new_id()
        self.store.users[user.id] = _detached(user)
        return user

    def add_item(self, item: Item) -> Item:
        item.id = self.store.new_id()
        self.store.items[item.id] = _detached(item)
        return item

    def add_order(self, order: Order) -> Order:
        order.id = self.store.new_id()
        self.store.orders[order.id] = _detached(order)
        return order


class RecordingPublisher:
    """An EventPublisher that remembers every batch it was handed."""

    def __init__(self) -> None:
        self.batches: list[list[DomainEvent]] = []

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        self.batches.append(list(events))

    @property
    def events(self) -> list[DomainEvent]:
        return [event for batch in self.batches for event in batch]
