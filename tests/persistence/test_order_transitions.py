"""Order transitions are a compare-and-set on the status, on both databases.

Concurrent requests on one order: exactly one moves it, the rest are refused with a
domain error, and a cancel gives the stock back exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import InvalidTransitionError, StaleStateError
from domain.orders import LineRequest, Order, OrderStatus
from domain.principals import Principal
from domain.services.orders import OrderService
from domain.specifications import field
from domain.users import Role
from persistence.database import create_engine
from persistence.event_bus import InProcessEventBus
from persistence.unit_of_work import SqlUnitOfWorkFactory
from schema.errors import rule_for
from tests.orders import order_service, unit_of_work_factory
from tests.persistence.builders import a_user, an_item, store_items, store_users

CONCURRENT = 20
STAFF = Principal(900, frozenset({Role.STAFF}))


@pytest.fixture
async def wide_engine(engine: AsyncEngine, database_url: str) -> AsyncIterator[AsyncEngine]:
    """The emptied test database with a pool as wide as the concurrent requests."""
    created = create_engine(database_url, pool_size=CONCURRENT)
    try:
        yield created
    finally:
        await created.dispose()


async def _placed_order(factory: SqlUnitOfWorkFactory, service: OrderService) -> Order:
    (customer,) = await store_users(factory, [a_user()])
    (item,) = await store_items(factory, [an_item(stock=10)])
    principal = Principal(customer.id, frozenset({Role.CUSTOMER}))
    return await service.place(principal, [LineRequest(item.id, 3)])


async def test_concurrent_cancels_of_one_order_release_its_stock_once(
    wide_engine: AsyncEngine,
) -> None:
    factory = unit_of_work_factory(wide_engine)
    service = order_service(factory, InProcessEventBus())
    order = await _placed_order(factory, service)
    owner = Principal(order.customer_id, frozenset({Role.CUSTOMER}))
    [item_id] = order.item_quantities

    results = await asyncio.gather(
        *(service.cancel(owner, order.id) for _ in range(CONCURRENT)), return_exceptions=True
    )

    winners = [r for r in results if isinstance(r, Order)]
    losers = [r for r in results if not isinstance(r, Order)]
    assert len(winners) == 1
    assert {(type(e), str(e), rule_for(e).code, rule_for(e).status) for e in losers} == {
        (
            InvalidTransitionError,
            "order cannot go from cancelled to cancelled",
            "INVALID_TRANSITION",
            409,
        )
    }
    async with factory(read_only=True) as uow:
        stored = await uow.orders.get(order.id)
        stock = (await uow.items.get_many([item_id]))[item_id].stock
    assert (stored and stored.status, stock) == (OrderStatus.CANCELLED, 10)


async def test_a_cancel_racing_a_payment_leaves_one_consistent_outcome(
    wide_engine: AsyncEngine,
) -> None:
    factory = unit_of_work_factory(wide_engine)
    service = order_service(factory, InProcessEventBus())
    order = await _placed_order(factory, service)
    [item_id] = order.item_quantities

    moves = [OrderStatus.PAID, OrderStatus.CANCELLED] * (CONCURRENT // 2)
    results = await asyncio.gather(
        *(service.change_status(STAFF, order.id, move) for move in moves),
        return_exceptions=True,
    )

    async with factory(read_only=True) as uow:
        stored = await uow.orders.get(order.id)
        stock = (await uow.items.get_many([item_id]))[item_id].stock
    assert stored is not None
    won = sorted(r.status for r in results if isinstance(r, Order))
    refused = {type(r) for r in results if not isinstance(r, Order)}
    # Serialised, either a payment then one cancel went through, or a cancel first.
    assert won in ([OrderStatus.CANCELLED, OrderStatus.PAID], [OrderStatus.CANCELLED])
    assert refused == {InvalidTransitionError}
    assert (stored.status, stock) == (OrderStatus.CANCELLED, 10)


async def test_a_compare_and_set_on_a_changed_row_writes_nothing(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    service = order_service(uow_factory, InProcessEventBus())
    order = await _placed_order(uow_factory, service)
    async with uow_factory() as uow:
        stale = await uow.orders.get(order.id)
        assert stale is not None
        stale.transition(OrderStatus.PAID)
        with pytest.raises(StaleStateError) as raised:
            await uow.orders.save(stale, only_if=field("status") == OrderStatus.SHIPPED)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        stored = await uow.orders.get(order.id)
    assert (str(raised.value), rule_for(raised.value).code) == (
        f"order {order.id} was changed by another request; read it again",
        "CONFLICT",
    )
    assert stored is not None
    assert stored.status is OrderStatus.PLACED
