"""The unpaid-order job: orders left unpaid are cancelled and their stock released once,
however many workers run it at the same time (SQLite and Postgres)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.orders import LineRequest, OrderStatus
from domain.principals import Principal
from domain.users import Role
from persistence import tables
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.orders import order_service
from tests.persistence.builders import Recorder, a_user, an_item, store_items, store_users


async def stock_of(uow_factory: SqlUnitOfWorkFactory, item_id: int) -> int:
    async with uow_factory(read_only=True) as uow:
        item = await uow.items.get(item_id)
        assert item is not None
        return item.stock


async def statuses(uow_factory: SqlUnitOfWorkFactory, ids: list[int]) -> list[OrderStatus]:
    async with uow_factory(read_only=True) as uow:
        found = await uow.orders.get_many(ids)
    return [found[key].status for key in ids]


async def cancellations_in_outbox(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(tables.OUTBOX.c.aggregate)
            .where(tables.OUTBOX.c.payload.like('%"current":"cancelled"%'))
            .order_by(tables.OUTBOX.c.aggregate)
        )
        return [str(row[0]) for row in rows.all()]


async def test_two_workers_racing_release_the_stock_of_each_unpaid_order_once(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    (customer,) = await store_users(uow_factory, [a_user()])
    (item,) = await store_items(uow_factory, [an_item(stock=100)])
    buyer = Principal(customer.id, frozenset({Role.CUSTOMER}))
    orders = order_service(uow_factory, Recorder())
    unpaid = [(await orders.place(buyer, [LineRequest(item.id, 2)])).id for _ in range(6)]
    paid = (await orders.place(buyer, [LineRequest(item.id, 5)])).id
    await orders.change_status(Principal.system(), paid, OrderStatus.PAID)
    cutoff = datetime.now(UTC) + timedelta(microseconds=1)
    await asyncio.sleep(0.01)
    recent = (await orders.place(buyer, [LineRequest(item.id, 3)])).id
    assert await stock_of(uow_factory, item.id) == 100 - 12 - 5 - 3

    first, second = order_service(uow_factory, Recorder()), order_service(uow_factory, Recorder())
    by_first, by_second = await asyncio.gather(
        first.cancel_unpaid(cutoff), second.cancel_unpaid(cutoff)
    )

    assert sorted(by_first + by_second) == unpaid
    assert set(by_first).isdisjoint(by_second)
    assert await stock_of(uow_factory, item.id) == 100 - 5 - 3
    assert await statuses(uow_factory, [*unpaid, paid, recent]) == [OrderStatus.CANCELLED] * 6 + [
        OrderStatus.PAID,
        OrderStatus.PLACED,
    ]
    assert await cancellations_in_outbox(engine) == sorted(f"Order:{key}" for key in unpaid)
    # Run again: nothing left to do.
    assert await first.cancel_unpaid(cutoff) == []
