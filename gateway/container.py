"""The composition root: settings in, adapters, services and schema out.

The only place that knows which adapter serves which port; everything it builds
is passed down, nothing reaches back up to read settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import strawberry
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.services.items import ItemService
from domain.services.orders import OrderService
from domain.services.users import UserService
from gateway.identity import AnonymousAuthenticator, Authenticator, DebugHeaderAuthenticator
from gateway.observability import Observability, build_observability
from gateway.settings import Settings
from persistence.database import create_engine
from persistence.event_bus import InProcessEventBus
from persistence.unit_of_work import SqlUnitOfWorkFactory
from resolvers.context import Services
from schema import SchemaOptions, build_schema


@dataclass
class Container:
    """Every long-lived object of one gateway process."""

    settings: Settings
    engine: AsyncEngine
    uow: SqlUnitOfWorkFactory
    bus: InProcessEventBus
    services: Services
    schema: strawberry.Schema
    observability: Observability
    authenticator: Authenticator
    closed: bool = field(default=False)

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            await self.engine.dispose()


def schema_options(settings: Settings) -> SchemaOptions:
    return SchemaOptions(
        max_depth=settings.graphql.max_depth,
        max_aliases=settings.graphql.max_aliases,
        max_tokens=settings.graphql.max_tokens,
        introspection=settings.introspection,
        mask_internal_errors=True,
    )


def build_container(settings: Settings, observability: Observability | None = None) -> Container:
    engine = create_engine(
        settings.database.url, echo=settings.database.echo, pool_size=settings.database.pool_size
    )
    observability = observability or build_observability(settings)
    observability.instrument_engine(engine)
    uow = SqlUnitOfWorkFactory(engine)
    bus = InProcessEventBus()
    services = Services(
        users=UserService(uow),
        items=ItemService(uow, bus),
        orders=OrderService(uow, bus),
    )
    authenticator: Authenticator = AnonymousAuthenticator()
    if settings.security.allow_debug_identity:
        authenticator = DebugHeaderAuthenticator(uow, authenticator)
    return Container(
        settings=settings,
        engine=engine,
        uow=uow,
        bus=bus,
        services=services,
        schema=build_schema(schema_options(settings), observers=observability.schema_observers()),
        observability=observability,
        authenticator=authenticator,
    )
