from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from domain.errors import (
    ConflictError,
    ForbiddenError,
    InvalidTransitionError,
    NotFoundError,
    OutOfStockError,
    UnauthenticatedError,
    ValidationError,
)
from domain.events import OrderPlaced, OrderStatusChanged
from domain.items import Item
from domain.money import Money
from domain.orders import LineRequest, OrderLine, OrderStatus
from domain.paging import PageRequest
from domain.principals import Principal
from domain.services.orders import OrderService
from domain.specifications import Always
from domain.users import Role
from tests.fakes import FakeUnitOfWorkFactory, RecordingPublisher
from tests.orders import order_service

ANN = Principal(101, frozenset({Role.CUSTOMER}))
BOB = Principal(102, frozenset({Role.CUSTOMER}))
STAFF = Principal(900, frozenset({Role.STAFF}))


def _snapshot(uow: FakeUnitOfWorkFactory) -> dict[str, Any]:
    store = uow.store
    return {
        "items": {key: asdict(item) for key, item in store.items.items()},
        "orders": {key: asdict(order) for key, order in store.orders.items()},
    }


def _stock(uow: FakeUnitOfWorkFactory) -> dict[int, int]:
    return {key: item.stock for key, item in uow.store.items.items()}


@pytest.fixture
def service(uow: FakeUnitOfWorkFactory, publisher: RecordingPublisher) -> OrderService:
    return order_service(uow, publisher)


@pytest.fixture
def widget(uow: FakeUnitOfWorkFactory) -> Item:
    return uow.add_item(Item(sku="WIDGET", name="Widget", price=Money(250), stock=10))


@pytest.fixture
def gadget(uow: FakeUnitOfWorkFactory) -> Item:
    return uow.add_item(Item(sku="GADGET", name="Gadget", price=Money(1000), stock=2))


async def test_placing_an_order_reserves_stock_and_publishes_order_placed(
    service: OrderService,
    uow: FakeUnitOfWorkFactory,
    publisher: RecordingPublisher,
    widget: Item,
    gadget: Item,
) -> None:
    order = await service.place(ANN, [LineRequest(widget.id, 3), LineRequest(gadget.id, 2)])

    assert _stock(uow) == {widget.id: 7, gadget.id: 0}
    assert (order.customer_id, order.status, order.lines, order.total) == (
        101,
        OrderStatus.PLACED,
        (
            OrderLine(item_id=widget.id, quantity=3, unit_price=Money(250)),
            OrderLine(item_id=gadget.id, quantity=2, unit_price=Money(1000)),
        ),
        Money(2750),
    )
    assert asdict(uow.store.orders[order.id]) == asdict(order)
    [[event, *stock]] = publisher.batches
    assert event == OrderPlaced(
        order_id=order.id,
        customer_id=101,
        total=Money(2750),
        occurred_at=event.occurred_at,
        event_id=event.event_id,
    )
    # Each item's stock changed with it (what the response cache evicts).
    assert sorted((type(e).__name__, e.aggregate) for e in stock) == [
        ("EntityUpdated", f"Item:{widget.id}"),
        ("EntityUpdated", f"Item:{gadget.id}"),
    ]


async def test_order_placed_is_not_published_when_the_commit_fails(
    service: OrderService,
    uow: FakeUnitOfWorkFactory,
    publisher: RecordingPublisher,
    widget: Item,
) -> None:
    before = _snapshot(uow)
    uow.fail_next_commit(ConflictError("write conflict"))

    with pytest.raises(ConflictError):
        await service.place(ANN, [LineRequest(widget.id, 1)])

    assert (_snapshot(uow), publisher.batches) == (before, [])


async def test_an_unknown_item_is_not_found_and_nothing_is_written(
    service: OrderService,
    uow: FakeUnitOfWorkFactory,
    publisher: RecordingPublisher,
    widget: Item,
) -> None:
    before = _snapshot(uow)

    with pytest.raises(NotFoundError) as caught:
        await service.place(ANN, [LineRequest(widget.id, 2), LineRequest(999, 1)])

    assert (caught.value.kind, caught.value.key, str(caught.value)) == (
        "Item",
        999,
        "Item 999 not found",
    )
    assert (_snapshot(uow), publisher.batches) == (before, [])
    assert [opened.committed for opened in uow.opened] == [False]


async def test_an_inactive_item_cannot_be_ordered(
    service: OrderService, uow: FakeUnitOfWorkFactory, publisher: RecordingPublisher
) -> None:
    hidden = uow.add_item(Item(sku="OLD", name="Old", price=Money(1), stock=5, active=False))
    before = _snapshot(uow)

    with pytest.raises(NotFoundError) as caught:
        await service.place(ANN, [LineRequest(hidden.id, 1)])

    assert (caught.value.kind, caught.value.key) == ("Item", hidden.id)
    assert (_snapshot(uow), publisher.batches) == (before, [])


async def test_ordering_more_than_the_stock_is_refused_and_stock_is_unchanged(
    service: OrderService,
    uow: FakeUnitOfWorkFactory,
    publisher: RecordingPublisher,
    widget: Item,
    gadget: Item,
) -> None:
    before = _snapshot(uow)

    with pytest.raises(OutOfStockError) as caught:
        await service.place(ANN, [LineRequest(widget.id, 4), LineRequest(gadget.id, 3)])

    assert (caught.value.item_id, caught.value.requested, caught.value.available) == (
        gadget.id,
        3,
        2,
    )
    assert _stock(uow) == {widget.id: 10, gadget.id: 2}
    assert (_snapshot(uow), publisher.batches) == (before, [])


async def test_bad_lines_are_refused_before_any_work(
    service: OrderService, uow: FakeUnitOfWorkFactory, widget: Item
) -> None:
    with pytest.raises(ValidationError) as caught:
        await service.place(ANN, [LineRequest(widget.id, 0), LineRequest(widget.id, 1)])

    assert [problem.field for problem in caught.value.problems] == [
        "lines.0.quantity",
        "lines.1.itemId",
    ]
    assert uow.opened == []


async def test_an_anonymous_caller_cannot_place_an_order(
    service: OrderService, uow: FakeUnitOfWorkFactory, widget: Item
) -> None:
    with pytest.raises(UnauthenticatedError):
        await service.place(Principal.anonymous(), [LineRequest(widget.id, 1)])
    assert (uow.opened, _stock(uow)) == ([], {widget.id: 10})


async def test_a_customer_sees_only_their_own_orders(service: OrderService, widget: Item) -> None:
    mine = await service.place(ANN, [LineRequest(widget.id, 1)])
    theirs = await service.place(BOB, [LineRequest(widget.id, 2)])

    seen = await service.get_many(ANN, [mine.id, theirs.id])
    page = await service.page(ANN, Always(), PageRequest(first=10))
    count = await service.count(ANN, Always())

    assert ({k: v.customer_id for k, v in seen.items()}, [o.id for o in page.items], count) == (
        {mine.id: 101},
        [mine.id],
        1,
    )


async def test_staff_see_every_order(service: OrderService, widget: Item) -> None:
    first = await service.place(ANN, [LineRequest(widget.id, 1)])
    second = await service.place(BOB, [LineRequest(widget.id, 1)])

    page = await service.page(STAFF, Always(), PageRequest(first=10))
    per_customer = await service.count_per(STAFF, "customer_id", [101, 102, 103], Always())

    assert ([o.id for o in page.items], per_customer) == (
        [first.id, second.id],
        {101: 1, 102: 1, 103: 0},
    )


async def test_per_customer_pages_respect_visibility(service: OrderService, widget: Item) -> None:
    mine = await service.place(ANN, [LineRequest(widget.id, 1)])
    await service.place(BOB, [LineRequest(widget.id, 1)])

    pages = await service.page_per(ANN, "customer_id", [101, 102], Always(), PageRequest(first=5))

    assert {key: [o.id for o in page.items] for key, page in pages.items()} == {
        101: [mine.id],
        102: [],
    }


async def test_a_customer_cannot_cancel_another_customers_order_which_looks_missing(
    service: OrderService,
    uow: FakeUnitOfWorkFactory,
    publisher: RecordingPublisher,
    widget: Item,
) -> None:
    theirs = await service.place(BOB, [LineRequest(widget.id, 2)])
    before, published = _snapshot(uow), list(publisher.batches)

    with pytest.raises(NotFoundError) as hidden:
        await service.cancel(ANN, theirs.id)
    with pytest.raises(NotFoundError) as missing:
        await service.cancel(ANN, 424242)

    assert [
        (type(e.value), e.value.kind, e.value.key, str(e.value)) for e in (hidden, missing)
    ] == [
        (NotFoundError, "Order", theirs.id, f"Order {theirs.id} not found"),
        (NotFoundError, "Order", 424242, "Order 424242 not found"),
    ]
    assert (_snapshot(uow), publisher.batches) == (before, published)


async def test_cancelling_releases_the_reserved_stock(
    service: OrderService,
    uow: FakeUnitOfWorkFactory,
    publisher: RecordingPublisher,
    widget: Item,
    gadget: Item,
) -> None:
    order = await service.place(ANN, [LineRequest(widget.id, 4), LineRequest(gadget.id, 1)])

    cancelled = await service.cancel(ANN, order.id)

    assert (cancelled.status, uow.store.orders[order.id].status, _stock(uow)) == (
        OrderStatus.CANCELLED,
        OrderStatus.CANCELLED,
        {widget.id: 10, gadget.id: 2},
    )
    event, *stock = publisher.batches[-1]
    assert event == OrderStatusChanged(
        order_id=order.id,
        customer_id=101,
        previous="placed",
        current="cancelled",
        occurred_at=event.occurred_at,
        event_id=event.event_id,
    )
    # Each item's stock came back with it (what the response cache evicts).
    assert sorted((type(e).__name__, e.aggregate) for e in stock) == [
        ("EntityUpdated", f"Item:{widget.id}"),
        ("EntityUpdated", f"Item:{gadget.id}"),
    ]


async def test_staff_can_cancel_any_order(
    service: OrderService, uow: FakeUnitOfWorkFactory, widget: Item
) -> None:
    order = await service.place(ANN, [LineRequest(widget.id, 3)])

    await service.cancel(STAFF, order.id)

    assert (uow.store.orders[order.id].status, _stock(uow)) == (
        OrderStatus.CANCELLED,
        {widget.id: 10},
    )


async def test_cancelling_a_shipped_order_is_refused_and_stock_stays_reserved(
    service: OrderService,
    uow: FakeUnitOfWorkFactory,
    publisher: RecordingPublisher,
    widget: Item,
) -> None:
    order = await service.place(ANN, [LineRequest(widget.id, 3)])
    await service.change_status(STAFF, order.id, OrderStatus.PAID)
    await service.change_status(STAFF, order.id, OrderStatus.SHIPPED)
    before, published = _snapshot(uow), list(publisher.batches)

    with pytest.raises(InvalidTransitionError) as caught:
        await service.cancel(ANN, order.id)

    assert (caught.value.current, caught.value.target) == ("shipped", "cancelled")
    assert (_snapshot(uow), publisher.batches, _stock(uow)) == (
        before,
        published,
        {widget.id: 7},
    )


async def test_staff_move_an_order_along_and_the_change_is_published(
    service: OrderService,
    uow: FakeUnitOfWorkFactory,
    publisher: RecordingPublisher,
    widget: Item,
) -> None:
    order = await service.place(ANN, [LineRequest(widget.id, 1)])

    paid = await service.change_status(STAFF, order.id, OrderStatus.PAID)

    event = publisher.batches[-1][0]
    assert (paid.status, uow.store.orders[order.id].status, publisher.batches[-1]) == (
        OrderStatus.PAID,
        OrderStatus.PAID,
        [
            OrderStatusChanged(
                order_id=order.id,
                customer_id=101,
                previous="placed",
                current="paid",
                occurred_at=event.occurred_at,
                event_id=event.event_id,
            )
        ],
    )


@pytest.mark.parametrize(
    ("principal", "error"),
    [(ANN, ForbiddenError), (Principal.anonymous(), UnauthenticatedError)],
)
async def test_only_staff_change_an_order_status(
    service: OrderService,
    uow: FakeUnitOfWorkFactory,
    publisher: RecordingPublisher,
    widget: Item,
    principal: Principal,
    error: type[Exception],
) -> None:
    order = await service.place(ANN, [LineRequest(widget.id, 1)])
    before, published = _snapshot(uow), list(publisher.batches)

    with pytest.raises(error):
        await service.change_status(principal, order.id, OrderStatus.PAID)

    assert (_snapshot(uow), publisher.batches) == (before, published)


async def test_an_anonymous_caller_cannot_cancel(
    service: OrderService, uow: FakeUnitOfWorkFactory, widget: Item
) -> None:
    order = await service.place(ANN, [LineRequest(widget.id, 1)])

    with pytest.raises(UnauthenticatedError):
        await service.cancel(Principal.anonymous(), order.id)

    assert uow.store.orders[order.id].status == OrderStatus.PLACED


async def test_a_failed_status_commit_publishes_nothing(
    service: OrderService,
    uow: FakeUnitOfWorkFactory,
    publisher: RecordingPublisher,
    widget: Item,
) -> None:
    order = await service.place(ANN, [LineRequest(widget.id, 2)])
    before, published = _snapshot(uow), list(publisher.batches)
    uow.fail_next_commit()

    with pytest.raises(ConflictError):
        await service.cancel(ANN, order.id)

    assert (_snapshot(uow), publisher.batches) == (before, published)
