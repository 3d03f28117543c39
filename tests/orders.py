"""The order use cases and units of work outside a container, as the composition root
makes them: the declared `Order`'s service over the application's repositories."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.ports import EventPublisher, UnitOfWorkFactory
from domain.services.orders import OrderService
from gateway.container import application_repositories
from persistence.unit_of_work import SqlUnitOfWorkFactory
from schema.declarations.orders import Order
from schema.entities import declaration_of


def order_service(uow: UnitOfWorkFactory, publisher: EventPublisher) -> OrderService:
    """The declared `Order`'s service (its use cases and generic reads)."""
    service = declaration_of(Order).new_service(uow, publisher)
    assert isinstance(service, OrderService)
    return service


def unit_of_work_factory(engine: AsyncEngine, **options: Any) -> SqlUnitOfWorkFactory:
    """Units of work over every declared entity's repository (orders among them)."""
    return SqlUnitOfWorkFactory(engine, application_repositories(), **options)


__all__ = ["order_service", "unit_of_work_factory"]
