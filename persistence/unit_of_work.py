"""The SQL unit of work: one session and transaction shared by every repository."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Self

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from domain import ports
from domain.events import DomainEvent, RecordsEvents
from persistence import commit_point
from persistence.database import READ_ONLY
from persistence.entities import DeclaredRepository
from persistence.errors import domain_error_for
from persistence.items import SqlItemRepository
from persistence.orders import SqlOrderRepository
from persistence.repository import SqlContext
from persistence.users import SqlUserRepository


class SqlUnitOfWork:
    """`domain.ports.UnitOfWork` over one AsyncSession; rolls back unless committed."""

    # Typed as the ports: the protocol's attributes are settable, hence invariant.
    users: ports.UserRepository
    items: ports.ItemRepository
    orders: ports.OrderRepository

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        read_only: bool = False,
        entities: Mapping[str, type[DeclaredRepository]] | None = None,
    ) -> None:
        self._engine = engine
        self._entity_types = entities or {}
        self._entities: dict[str, DeclaredRepository] = {}
        self._db: SqlContext | None = None
        self.read_only = read_only
        self._session: AsyncSession | None = None
        self._committed = False
        # Keyed by object identity: aggregates compare by identity and need not be hashable.
        self._touched: dict[int, RecordsEvents] = {}

    async def __aenter__(self) -> Self:
        bind = self._engine
        if self.read_only:
            options = {READ_ONLY: True}
            if bind.dialect.name == "postgresql":
                options["postgresql_readonly"] = True
            bind = bind.execution_options(**options)
        self._session = AsyncSession(bind, expire_on_commit=False, autoflush=False)
        self._committed = False
        db = SqlContext(self._session, self._engine.dialect.name, self._track)
        self._db, self._entities = db, {}
        self.users = SqlUserRepository(db)
        self.items = SqlItemRepository(db)
        self.orders = SqlOrderRepository(db)
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

    async def commit(self) -> None:
        """Commit; raises ConflictError (or DuplicateError) if the database refuses."""
        session = self._require_session()
        commit_point.reached()
        try:
            await session.commit()
        except sa_exc.DBAPIError as error:
            translated = domain_error_for(error)
            if translated is None:
                raise
            raise translated from error
        self._committed = True

    async def rollback(self) -> None:
        await self._require_session().rollback()

    def collect_events(self) -> list[DomainEvent]:
        """Pull the events every loaded or added aggregate recorded, in load order."""
        events: list[DomainEvent] = []
        for aggregate in self._touched.values():
            events.extend(aggregate.pull_events())
        return events


class SqlUnitOfWorkFactory:
    """`domain.ports.UnitOfWorkFactory`: a fresh SqlUnitOfWork per call."""

    def __init__(
        self,
        engine: AsyncEngine,
        entities: Mapping[str, type[DeclaredRepository]] | None = None,
    ) -> None:
        self.engine = engine
        self.entities = dict(entities or {})

    def __call__(self, *, read_only: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, read_only=read_only, entities=self.entities)
