"""Small builders for persistence tests: valid aggregates with unique keys, and a sink
that records the events it is given."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from domain.events import DomainEvent
from domain.items import Item
from domain.money import Money
from domain.orders import Order, OrderLine, OrderStatus
from domain.ports import UnitOfWorkFactory
from domain.users import Email, Role, User

_counter = itertools.count(1)
BASE_TIME = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def a_user(
    email: str | None = None, *, name: str = "Ada", roles: frozenset[Role] | None = None
) -> User:
    n = next(_counter)
    return User(
        email=Email(email or f"user{n}@example.com"),
        name=name,
        roles=roles or frozenset({Role.CUSTOMER}),
        password_hash=None if n % 2 else f"hash-{n}",
        created_at=BASE_TIME + timedelta(minutes=n),
    )


def an_item(
    sku: str | None = None,
    *,
    name: str = "Widget",
    price: Money | None = None,
    stock: int = 10,
    description: str = "",
    active: bool = True,
) -> Item:
    n = next(_counter)
    return Item(
        sku=sku or f"SKU-{n:06d}",
        name=name,
        price=price or Money(1000 + n, "USD"),
        stock=stock,
        description=description,
        active=active,
        created_at=BASE_TIME + timedelta(seconds=n),
    )


def an_order(
    customer_id: int,
    items: list[Item],
    *,
    status: OrderStatus = OrderStatus.PLACED,
    created_at: datetime | None = None,
) -> Order:
    moment = created_at or BASE_TIME + timedelta(seconds=next(_counter))
    return Order(
        customer_id=customer_id,
        lines=tuple(
            OrderLine(item_id=item.id, quantity=index + 1, unit_price=item.price)
            for index, item in enumerate(items)
        ),
        status=status,
        created_at=moment,
        updated_at=moment,
    )


async def store_users(factory: UnitOfWorkFactory, users: list[User]) -> list[User]:
    async with factory() as uow:
        for user in users:
            await uow.users.add(user)
        await uow.commit()
    return users


async def store_items(factory: UnitOfWorkFactory, items: list[Item]) -> list[Item]:
    async with factory() as uow:
        for item in items:
            await uow.items.add(item)
        await uow.commit()
    return items


async def store_orders(factory: UnitOfWorkFactory, orders: list[Order]) -> list[Order]:
    async with factory() as uow:
        for order in orders:
            await uow.orders.add(order)
        await uow.commit()
    return orders


class Recorder:
    """A sink that keeps what it was given, in order."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        self.events.extend(events)
