from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from domain.errors import (
    ConflictError,
    DuplicateError,
    FieldProblem,
    ForbiddenError,
    NotFoundError,
    UnauthenticatedError,
    ValidationError,
)
from domain.events import EntityUpdated, ItemPriceChanged
from domain.items import Item
from domain.money import Money
from domain.orders import LineRequest
from domain.paging import Direction, PageRequest, Sort
from domain.principals import Principal
from domain.services.items import ItemChanges, ItemService
from domain.specifications import Always, field
from domain.users import Role
from tests.fakes import FakeUnitOfWorkFactory, RecordingPublisher
from tests.orders import order_service

CUSTOMER = Principal(101, frozenset({Role.CUSTOMER}))
STAFF = Principal(900, frozenset({Role.STAFF}))
ANONYMOUS = Principal.anonymous()


def _items(uow: FakeUnitOfWorkFactory) -> dict[int, dict[str, Any]]:
    return {key: asdict(item) for key, item in uow.store.items.items()}


@pytest.fixture
def service(uow: FakeUnitOfWorkFactory, publisher: RecordingPublisher) -> ItemService:
    return ItemService(uow, publisher)


@pytest.fixture
def widget(uow: FakeUnitOfWorkFactory) -> Item:
    return uow.add_item(Item(sku="WIDGET", name="Widget", price=Money(250), stock=10))


@pytest.fixture
def retired(uow: FakeUnitOfWorkFactory) -> Item:
    return uow.add_item(Item(sku="RETIRED", name="Retired", price=Money(99), active=False))


async def test_staff_create_an_item(service: ItemService, uow: FakeUnitOfWorkFactory) -> None:
    item = await service.create(
        STAFF, sku="LAMP-1", name=" Lamp ", price=Money(1999), description="bright", stock=4
    )

    assert asdict(uow.store.items[item.id]) == {
        "sku": "LAMP-1",
        "name": "Lamp",
        "price": {"cents": 1999, "currency": "USD"},
        "description": "bright",
        "stock": 4,
        "active": True,
        "created_at": item.created_at,
        "id": item.id,
    }


@pytest.mark.parametrize(
    ("principal", "error"), [(CUSTOMER, ForbiddenError), (ANONYMOUS, UnauthenticatedError)]
)
async def test_only_staff_create_items(
    service: ItemService,
    uow: FakeUnitOfWorkFactory,
    principal: Principal,
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        await service.create(principal, sku="LAMP-1", name="Lamp", price=Money(1))
    assert (uow.store.items, uow.opened) == ({}, [])


async def test_a_duplicate_sku_is_refused(
    service: ItemService, uow: FakeUnitOfWorkFactory, widget: Item
) -> None:
    before = _items(uow)

    with pytest.raises(DuplicateError) as caught:
        await service.create(STAFF, sku="WIDGET", name="Another", price=Money(1))

    assert (caught.value.kind, caught.value.field, caught.value.value, str(caught.value)) == (
        "item",
        "sku",
        "WIDGET",
        "a item with this sku already exists",
    )
    assert _items(uow) == before


async def test_creating_with_bad_fields_lists_every_problem(service: ItemService) -> None:
    with pytest.raises(ValidationError) as caught:
        await service.create(STAFF, sku="bad sku", name="", price=Money(-1), stock=-2)
    assert caught.value.problems == [
        FieldProblem("sku", "must be 2-40 of A-Z, 0-9 and '-'"),
        FieldProblem("name", "must be 1-200 characters"),
        FieldProblem("price", "must not be negative"),
        FieldProblem("stock", "must not be negative"),
    ]


async def test_changing_the_price_publishes_item_price_changed(
    service: ItemService,
    uow: FakeUnitOfWorkFactory,
    publisher: RecordingPublisher,
    widget: Item,
) -> None:
    updated = await service.update(STAFF, widget.id, ItemChanges(price=Money(300), stock=3))

    assert (updated.price, updated.stock) == (Money(300), 3)
    assert asdict(uow.store.items[widget.id]) == asdict(updated)
    [[event, updated_event]] = publisher.batches
    assert event == ItemPriceChanged(
        item_id=widget.id,
        previous=Money(250),
        current=Money(300),
        occurred_at=event.occurred_at,
        event_id=event.event_id,
    )
    assert updated_event == EntityUpdated(
        entity="Item",
        key=widget.id,
        occurred_at=updated_event.occurred_at,
        event_id=updated_event.event_id,
    )


async def test_an_update_that_keeps_the_price_publishes_only_the_update(
    service: ItemService,
    uow: FakeUnitOfWorkFactory,
    publisher: RecordingPublisher,
    widget: Item,
) -> None:
    updated = await service.update(
        STAFF, widget.id, ItemChanges(price=Money(250), name=" Gizmo ", description="new")
    )

    assert (updated.name, updated.description, uow.store.items[widget.id].name) == (
        "Gizmo",
        "new",
        "Gizmo",
    )
    [event] = publisher.events
    assert event == EntityUpdated(
        entity="Item", key=widget.id, occurred_at=event.occurred_at, event_id=event.event_id
    )


async def test_a_failed_commit_publishes_no_price_change(
    service: ItemService,
    uow: FakeUnitOfWorkFactory,
    publisher: RecordingPublisher,
    widget: Item,
) -> None:
    before = _items(uow)
    uow.fail_next_commit()

    with pytest.raises(ConflictError):
        await service.update(STAFF, widget.id, ItemChanges(price=Money(1)))

    assert (_items(uow), publisher.batches) == (before, [])


@pytest.mark.parametrize(
    ("principal", "error"), [(CUSTOMER, ForbiddenError), (ANONYMOUS, UnauthenticatedError)]
)
async def test_only_staff_update_items(
    service: ItemService,
    uow: FakeUnitOfWorkFactory,
    publisher: RecordingPublisher,
    widget: Item,
    principal: Principal,
    error: type[Exception],
) -> None:
    before = _items(uow)
    with pytest.raises(error):
        await service.update(principal, widget.id, ItemChanges(price=Money(1)))
    assert (_items(uow), publisher.batches) == (before, [])


async def test_updating_a_missing_item_is_not_found(service: ItemService) -> None:
    with pytest.raises(NotFoundError) as caught:
        await service.update(STAFF, 31337, ItemChanges(stock=1))
    assert (caught.value.kind, caught.value.key) == ("Item", 31337)


async def test_a_bad_update_lists_every_problem_and_changes_nothing(
    service: ItemService, uow: FakeUnitOfWorkFactory, widget: Item
) -> None:
    before = _items(uow)
    with pytest.raises(ValidationError) as caught:
        await service.update(
            STAFF,
            widget.id,
            ItemChanges(name=" ", price=Money(-1), stock=-1, description="x" * 5001),
        )
    assert caught.value.problems == [
        FieldProblem("name", "must be 1-200 characters"),
        FieldProblem("description", "must be at most 5000 characters"),
        FieldProblem("price", "must not be negative"),
        FieldProblem("stock", "must not be negative"),
    ]
    assert _items(uow) == before


@pytest.mark.parametrize("principal", [CUSTOMER, ANONYMOUS])
async def test_inactive_items_are_hidden_from_customers(
    service: ItemService, widget: Item, retired: Item, principal: Principal
) -> None:
    found = await service.get_many(principal, [widget.id, retired.id])
    page = await service.page(principal, Always(), PageRequest(first=10))
    count = await service.count(principal, Always())

    assert (list(found), [item.id for item in page.items], count) == (
        [widget.id],
        [widget.id],
        1,
    )


async def test_staff_see_inactive_items(service: ItemService, widget: Item, retired: Item) -> None:
    found = await service.get_many(STAFF, [widget.id, retired.id, 555])
    page = await service.page(STAFF, Always(), PageRequest(first=10))
    count = await service.count(STAFF, Always())

    assert (sorted(found), [item.id for item in page.items], count) == (
        sorted([widget.id, retired.id]),
        [widget.id, retired.id],
        2,
    )


async def test_customers_page_through_active_items_by_price(
    service: ItemService, uow: FakeUnitOfWorkFactory
) -> None:
    for sku, cents, active in [
        ("A1", 500, True),
        ("B2", 100, True),
        ("C3", 300, False),
        ("D4", 300, True),
        ("E5", 100, True),
    ]:
        uow.add_item(Item(sku=sku, name=sku, price=Money(cents), active=active))
    sort = Sort("price", Direction.DESC)

    first = await service.page(CUSTOMER, field("stock") >= 0, PageRequest(first=2, sort=sort))
    rest = await service.page(
        CUSTOMER, field("stock") >= 0, PageRequest(first=2, after=first.cursors[-1], sort=sort)
    )

    assert (
        [item.sku for item in first.items],
        first.has_next_page,
        [item.sku for item in rest.items],
        rest.has_next_page,
    ) == (["A1", "D4"], True, ["E5", "B2"], False)


async def test_deleting_an_item_an_order_references_is_a_conflict(
    service: ItemService,
    uow: FakeUnitOfWorkFactory,
    publisher: RecordingPublisher,
    widget: Item,
) -> None:
    await order_service(uow, publisher).place(CUSTOMER, [LineRequest(widget.id, 1)])
    before = _items(uow)

    with pytest.raises(ConflictError) as caught:
        await service.delete(STAFF, widget.id)

    assert (type(caught.value), str(caught.value)) == (
        ConflictError,
        f"item {widget.id} is referenced by orders; set active to false instead",
    )
    assert _items(uow) == before


async def test_staff_delete_an_unreferenced_item(
    service: ItemService, uow: FakeUnitOfWorkFactory, widget: Item, retired: Item
) -> None:
    deleted = await service.delete(STAFF, retired.id)
    assert (deleted.sku, list(uow.store.items)) == ("RETIRED", [widget.id])


async def test_deleting_a_missing_item_is_not_found(service: ItemService) -> None:
    with pytest.raises(NotFoundError) as caught:
        await service.delete(STAFF, 404)
    assert (caught.value.kind, caught.value.key) == ("Item", 404)


@pytest.mark.parametrize(
    ("principal", "error"), [(CUSTOMER, ForbiddenError), (ANONYMOUS, UnauthenticatedError)]
)
async def test_only_staff_delete_items(
    service: ItemService,
    uow: FakeUnitOfWorkFactory,
    retired: Item,
    principal: Principal,
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        await service.delete(principal, retired.id)
    assert list(uow.store.items) == [retired.id]
