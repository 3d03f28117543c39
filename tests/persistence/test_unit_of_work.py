"""Unit of work: transactions, error translation and event collection, on both backends."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import ConflictError, DuplicateError, MissingReferenceError, OutOfStockError
from domain.events import EntityUpdated, ItemPriceChanged, OrderPlaced, OrderStatusChanged
from domain.money import Money
from domain.orders import LineRequest, OrderStatus
from domain.principals import Principal
from domain.specifications import Always
from domain.users import Email, Role
from persistence.event_bus import InProcessEventBus
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.orders import order_service
from tests.persistence.builders import a_user, an_item, store_items, store_users


async def test_leaving_without_commit_rolls_back(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.items.add(an_item())
    async with uow_factory(read_only=True) as uow:
        assert await uow.items.count(Always()) == 0


async def test_an_exception_rolls_back_everything_written(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:

    async def write_then_fail() -> None:
        async with uow_factory() as uow:
            await uow.users.add(a_user())
            await uow.items.add(an_item())
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await write_then_fail()
    async with uow_factory(read_only=True) as uow:
        counts = (await uow.users.count(Always()), await uow.items.count(Always()))
    assert counts == (0, 0)


async def test_a_duplicate_email_is_a_duplicate_error(uow_factory: SqlUnitOfWorkFactory) -> None:
    await store_users(uow_factory, [a_user("dup@example.com")])
    with pytest.raises(DuplicateError) as raised:
        await store_users(uow_factory, [a_user("DUP@example.com")])
    assert (raised.value.kind, raised.value.field, raised.value.value) == (
        "user",
        "email",
        "dup@example.com",
    )


async def test_a_duplicate_sku_is_a_duplicate_error(uow_factory: SqlUnitOfWorkFactory) -> None:
    await store_items(uow_factory, [an_item("SKU-DUP")])
    with pytest.raises(DuplicateError) as raised:
        async with uow_factory() as uow:
            await uow.items.add(an_item("SKU-DUP"))
    assert (raised.value.kind, raised.value.field, raised.value.value) == ("item", "sku", "SKU-DUP")


async def test_negative_stock_is_refused_by_the_database(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    (item,) = await store_items(uow_factory, [an_item(stock=1)])

    async def save_negative_stock() -> None:
        async with uow_factory() as uow:
            loaded = await uow.items.get(item.id)
            assert loaded is not None
            loaded.stock = -1  # bypasses the domain rule on purpose
            await uow.items.save(loaded)

    with pytest.raises(ConflictError) as raised:
        await save_negative_stock()
    assert str(raised.value) == "item stock cannot go below zero"


async def test_an_order_for_a_missing_customer_refers_to_nothing(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    (item,) = await store_items(uow_factory, [an_item()])
    service = order_service(uow_factory, InProcessEventBus())
    with pytest.raises(MissingReferenceError) as raised:
        await service.place(Principal(4242, frozenset({Role.CUSTOMER})), [LineRequest(item.id, 1)])
    # The foreign key names its column on Postgres; SQLite's is found by asking.
    assert str(raised.value) == "customer_id: refers to an object that does not exist"
    async with uow_factory(read_only=True) as uow:
        again = await uow.items.get(item.id)
    assert again is not None
    assert again.stock == item.stock


async def test_events_of_loaded_and_added_aggregates_are_collected(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    (customer,) = await store_users(uow_factory, [a_user()])
    (item,) = await store_items(uow_factory, [an_item(price=Money(100))])
    bus = InProcessEventBus()
    service = order_service(uow_factory, bus)
    with bus.subscribe() as subscription:
        order = await service.place(
            Principal(customer.id, frozenset({Role.CUSTOMER})), [LineRequest(item.id, 2)]
        )
        await service.change_status(Principal.system(), order.id, OrderStatus.PAID)
    async with uow_factory() as uow:
        loaded = await uow.items.get(item.id)
        assert loaded is not None
        loaded.change_price(Money(150))
        await uow.items.save(loaded)
        await uow.commit()
        collected = uow.collect_events()
        again = uow.collect_events()
    # The items' stock events (EntityUpdated, for the response cache) are not this test's.
    received = [event async for event in subscription if not isinstance(event, EntityUpdated)]
    assert [(type(e), e.order_id) for e in received] == [  # type: ignore[attr-defined]  # both have it
        (OrderPlaced, order.id),
        (OrderStatusChanged, order.id),
    ]
    assert received[0] == OrderPlaced(
        order_id=order.id,
        customer_id=customer.id,
        total=Money(200),
        occurred_at=received[0].occurred_at,
        event_id=received[0].event_id,
    )
    assert collected == [
        ItemPriceChanged(
            item_id=item.id,
            previous=Money(100),
            current=Money(150),
            occurred_at=collected[0].occurred_at,
            event_id=collected[0].event_id,
        )
    ]
    assert again == []


async def test_placing_an_order_reserves_stock_and_stores_the_order(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    (customer,) = await store_users(uow_factory, [a_user()])
    first, second = await store_items(uow_factory, [an_item(stock=5), an_item(stock=2)])
    service = order_service(uow_factory, InProcessEventBus())
    placed = await service.place(
        Principal(customer.id, frozenset({Role.CUSTOMER})),
        [LineRequest(second.id, 2), LineRequest(first.id, 3)],
    )
    async with uow_factory(read_only=True) as uow:
        stock = {k: v.stock for k, v in (await uow.items.get_many([first.id, second.id])).items()}
        stored = await uow.orders.get(placed.id)
    assert stock == {first.id: 2, second.id: 0}
    assert stored is not None
    assert [(line.item_id, line.quantity) for line in stored.lines] == [
        (second.id, 2),
        (first.id, 3),
    ]


async def test_a_failed_place_leaves_stock_and_orders_unchanged(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    (customer,) = await store_users(uow_factory, [a_user()])
    plenty, scarce = await store_items(uow_factory, [an_item(stock=9), an_item(stock=1)])
    service = order_service(uow_factory, InProcessEventBus())
    with pytest.raises(OutOfStockError) as raised:
        await service.place(
            Principal(customer.id, frozenset({Role.CUSTOMER})),
            [LineRequest(plenty.id, 4), LineRequest(scarce.id, 2)],
        )
    async with uow_factory(read_only=True) as uow:
        stock = {k: v.stock for k, v in (await uow.items.get_many([plenty.id, scarce.id])).items()}
        orders = await uow.orders.count(Always())
    assert (raised.value.item_id, raised.value.requested, raised.value.available) == (
        scarce.id,
        2,
        1,
    )
    assert (stock, orders) == ({plenty.id: 9, scarce.id: 1}, 0)


async def test_concurrent_writers_are_serialised_not_lost(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    (item,) = await store_items(uow_factory, [an_item(stock=0)])

    async def add_one() -> None:
        async with uow_factory() as uow:
            locked = await uow.items.lock_many([item.id])
            await asyncio.sleep(0.01)  # hold the lock while the others queue up
            locked[item.id].release(1)
            await uow.items.save(locked[item.id])
            await uow.commit()

    await asyncio.gather(*(add_one() for _ in range(5)))
    async with uow_factory(read_only=True) as uow:
        again = await uow.items.get(item.id)
    assert again is not None
    assert again.stock == 5


async def test_a_unit_of_work_must_be_entered(uow_factory: SqlUnitOfWorkFactory) -> None:
    with pytest.raises(RuntimeError, match="not open"):
        await uow_factory().commit()


async def test_users_by_email_sees_its_own_uncommitted_write(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    async with uow_factory() as uow:
        user = a_user("fresh@example.com")
        await uow.users.add(user)
        found = await uow.users.by_email(Email("fresh@example.com"))
    assert found is not None
    assert found.id == user.id


async def test_the_engine_fixture_is_the_factorys(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    assert uow_factory.engine is engine
