"""The SQL unit of work: one session and transaction shared by every repository.

Events the aggregates recorded (and any `record`ed directly) are written to the outbox
in the transaction of the change, so they are published exactly when it commits, and
after a crash too (see `persistence.outbox_relay`). The audit records of its changes
(every repository's writes) and of security events (`audit`) go into `audit_log` in
that same transaction, as made by the factory's `AuditContext`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from domain import commit_point, ports
from domain.audit import SYSTEM, AuditContext, AuditRecord
from domain.events import DomainEvent, RecordsEvents
from persistence import tables
from persistence.audit import audit_rows
from persistence.database import READ_ONLY
from persistence.entities import DeclaredRepository
from persistence.errors import domain_error_for
from persistence.items import SqlItemRepository
from persistence.outbox import outbox_rows
from persistence.repository import SqlContext
from persistence.users import SqlUserRepository


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SqlUnitOfWork:
    """`domain.ports.UnitOfWork` over one AsyncSession; rolls back unless committed."""

    # Typed as the ports: the protocol's attributes are settable, hence invariant.
    users: ports.UserRepository
    items: ports.ItemRepository

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        read_only: bool = False,
        entities: Mapping[str, type[DeclaredRepository]] | None = None,
        on_events_committed: Callable[[], None] | None = None,
        audit_context: AuditContext = SYSTEM,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._engine = engine
        self._audit_context, self._now = audit_context, now
        self._audit_records: list[AuditRecord] = []
        self._entity_types = entities or {}
        self._entities: dict[str, DeclaredRepository] = {}
        self._db: SqlContext | None = None
        self._on_events_committed = on_events_committed
        self.read_only = read_only
        self._session: AsyncSession | None = None
        self._committed = False
        # Keyed by object identity: aggregates compare by identity and need not be hashable.
        self._touched: dict[int, RecordsEvents] = {}
        self._recorded: list[DomainEvent] = []
        self._committed_events: list[DomainEvent] = []

    async def __aenter__(self) -> Self:
        bind = self._engine
        if self.read_only:
            options = {READ_ONLY: True}
            if bind.dialect.name == "postgresql":
                options["postgresql_readonly"] = True
            bind = bind.execution_options(**options)
        self._session = AsyncSession(bind, expire_on_commit=False, autoflush=False)
        self._committed = False
        self._recorded, self._committed_events, self._audit_records = [], [], []
        db = SqlContext(
            self._session,
            self._engine.dialect.name,
            self._track,
            audit=None if self.read_only else self._audit_records.append,
        )
        self._db, self._entities = db, {}
        self.users = SqlUserRepository(db)
        self.items = SqlItemRepository(db)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self._require_session()
        try:
            if not self._committed:
                await session.rollback()
        finally:
            await session.close()
            self._session = None

    @property
    def orders(self) -> DeclaredRepository:
        """The declared `Order`'s repository (orders come with their lines)."""
        return self.repository("Order")

    def repository(self, entity: str) -> DeclaredRepository:
        """The repository of a declared entity, made on first use in this unit of work."""
        found = self._entities.get(entity)
        if found is None:
            if self._db is None:
                raise RuntimeError("the unit of work is not open; use `async with`")
            found = self._entities[entity] = self._entity_types[entity](self._db)
        return found

    def _require_session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is not open; use `async with`")
        return self._session

    def _track(self, entity: object) -> None:
        if isinstance(entity, RecordsEvents):
            self._touched[id(entity)] = entity

    def record(self, event: DomainEvent) -> None:
        """An event no aggregate recorded (a deletion): written to the outbox on commit."""
        self._recorded.append(event)

    def audit(self, record: AuditRecord) -> None:
        """A security event (or a record no repository made), stored with the next commit."""
        if self.read_only:
            raise RuntimeError("a read-only unit of work records nothing")
        self._audit_records.append(record)

    def _pull_events(self) -> list[DomainEvent]:
        events: list[DomainEvent] = []
        for aggregate in self._touched.values():
            events.extend(aggregate.pull_events())
        events.extend(self._recorded)
        self._recorded = []
        return events

    async def commit(self) -> None:
        """Commit the change and its events; raises ConflictError (or DuplicateError)."""
        session = self._require_session()
        events = self._pull_events()
        audited, self._audit_records[:] = list(self._audit_records), []
        commit_point.reached()
        try:
            if events:
                await session.execute(tables.OUTBOX.insert(), outbox_rows(events))
            if audited:
                rows = audit_rows(audited, self._audit_context, self._now())
                await session.execute(tables.AUDIT_LOG.insert(), rows)
            await session.commit()
        except sa_exc.DBAPIError as error:
            translated = domain_error_for(error)
            if translated is None:
                raise
            raise translated from error
        self._committed = True
        self._committed_events.extend(events)
        if events and self._on_events_committed is not None:
            self._on_events_committed()

    async def rollback(self) -> None:
        await self._require_session().rollback()

    def collect_events(self) -> list[DomainEvent]:
        """The events committed so far (already in the outbox), then forgotten here."""
        events, self._committed_events = self._committed_events, []
        return events


class SqlUnitOfWorkFactory:
    """`domain.ports.UnitOfWorkFactory`: a fresh SqlUnitOfWork per call."""

    def __init__(
        self,
        engine: AsyncEngine,
        entities: Mapping[str, type[DeclaredRepository]] | None = None,
        *,
        on_events_committed: Callable[[], None] | None = None,
        audit_context: AuditContext = SYSTEM,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.engine = engine
        self.entities = dict(entities or {})
        # Told after each commit that wrote events: the relay wakes instead of polling.
        self.on_events_committed = on_events_committed
        self.audit_context = audit_context
        self.now = now

    def __call__(self, *, read_only: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(
            self.engine,
            read_only=read_only,
            entities=self.entities,
            on_events_committed=self.on_events_committed,
            audit_context=self.audit_context,
            now=self.now,
        )

    def on_behalf_of(self, context: AuditContext) -> SqlUnitOfWorkFactory:
        """This factory, its changes audited as made by `context` (one request's)."""
        bound = copy.copy(self)
        bound.audit_context = context
        return bound
