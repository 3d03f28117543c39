"""Races only a real Postgres can show: row locks under concurrent orders."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import OutOfStockError
from domain.orders import LineRequest, Order, OrderStatus
from domain.principals import Principal
from domain.specifications import Always, field
from domain.users import Role
from persistence.database import create_engine, ping
from persistence.event_bus import InProcessEventBus
from tests.orders import order_service, unit_of_work_factory
from tests.persistence.builders import (
    a_user,
    an_item,
    an_order,
    store_items,
    store_orders,
    store_users,
)


async def test_two_customers_racing_for_the_last_unit_one_wins(
    postgres_engine: AsyncEngine,
) -> None:
    factory = unit_of_work_factory(postgres_engine)
    alice, bob = await store_users(factory, [a_user(), a_user()])
    (item,) = await store_items(factory, [an_item(stock=1)])
    service = order_service(factory, InProcessEventBus())

    async def place(customer_id: int) -> Order:
        principal = Principal(customer_id, frozenset({Role.CUSTOMER}))
        return await service.place(principal, [LineRequest(item.id, 1)])

    results = await asyncio.gather(place(alice.id), place(bob.id), return_exceptions=True)
    winners = [r for r in results if isinstance(r, Order)]
    losers = [r for r in results if isinstance(r, OutOfStockError)]
    async with factory(read_only=True) as uow:
        stock = (await uow.items.get_many([item.id]))[item.id].stock
        orders = await uow.orders.count(Always())
    assert (len(winners), len(losers)) == (1, 1)
    assert (losers[0].item_id, losers[0].requested, losers[0].available) == (item.id, 1, 0)
    assert (stock, orders) == (0, 1)


async def test_lock_many_makes_a_second_locker_wait_for_the_first(
    postgres_engine: AsyncEngine,
) -> None:
    factory = unit_of_work_factory(postgres_engine)
    (item,) = await store_items(factory, [an_item(stock=3)])
    order_of_events: list[str] = []
    first_holds = asyncio.Event()

    async def first() -> None:
        async with factory() as uow:
            locked = await uow.items.lock_many([item.id])
            first_holds.set()
            await asyncio.sleep(0.2)
            locked[item.id].reserve(1)
            await uow.items.save(locked[item.id])
            order_of_events.append("first commits")
            await uow.commit()

    async def second() -> int:
        await first_holds.wait()
        async with factory() as uow:
            locked = await uow.items.lock_many([item.id])
            order_of_events.append("second reads")
            return locked[item.id].stock

    _, seen = await asyncio.gather(first(), second())
    assert order_of_events == ["first commits", "second reads"]
    assert seen == 2


async def test_the_conditional_write_alone_lets_one_concurrent_writer_through(
    postgres_url: str, postgres_engine: AsyncEngine
) -> None:
    """Without the row lock, the compare-and-set still stops all but one writer.

    Every writer reads the order before any writes (a barrier); each UPDATE then
    waits for the first to commit and re-checks its WHERE on the row it committed.
    """
    writers = 10
    engine = create_engine(postgres_url, pool_size=writers)
    factory = unit_of_work_factory(engine)
    (customer,) = await store_users(factory, [a_user()])
    (item,) = await store_items(factory, [an_item(stock=5)])
    (order,) = await store_orders(factory, [an_order(customer.id, [item])])
    everyone_has_read = asyncio.Barrier(writers)

    async def pay_unlocked() -> None:
        async with factory() as uow:
            read = await uow.orders.get(order.id)
            assert read is not None
            await everyone_has_read.wait()
            read.transition(OrderStatus.PAID)
            await uow.orders.save(read, only_if=field("status") == OrderStatus.PLACED)
            await uow.commit()

    try:
        results = await asyncio.gather(
            *(pay_unlocked() for _ in range(writers)), return_exceptions=True
        )
    finally:
        await engine.dispose()

    assert sorted(type(r).__name__ for r in results) == ["NoneType"] + ["StaleStateError"] * (
        writers - 1
    )


async def test_read_only_units_of_work_refuse_writes(postgres_engine: AsyncEngine) -> None:
    factory = unit_of_work_factory(postgres_engine)
    with pytest.raises(DBAPIError, match="read-only transaction"):
        async with factory(read_only=True) as uow:
            await uow.items.add(an_item())


async def test_ping_answers_for_a_live_database(postgres_engine: AsyncEngine) -> None:
    assert await ping(postgres_engine, timeout=5) is True
