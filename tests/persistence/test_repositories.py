"""The repository contract, run against SQLite and Postgres."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from domain.errors import ValidationError
from domain.items import Item
from domain.money import Money
from domain.orders import Order, OrderLine, OrderStatus
from domain.paging import Cursor, Direction, PageRequest, Sort
from domain.specifications import Always, field
from domain.users import Email, Role, User
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.persistence.builders import (
    a_user,
    an_item,
    an_order,
    store_items,
    store_orders,
    store_users,
)


def user_state(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "roles": user.roles,
        "active": user.active,
        "password_hash": user.password_hash,
        "created_at": user.created_at,
    }


def item_state(item: Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "sku": item.sku,
        "name": item.name,
        "description": item.description,
        "price": item.price,
        "stock": item.stock,
        "active": item.active,
        "created_at": item.created_at,
    }


def order_state(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "customer_id": order.customer_id,
        "status": order.status,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "lines": [asdict(line) for line in order.lines],
    }


# --- users ---------------------------------------------------------------------------


async def test_an_added_user_gets_an_id_and_reads_back_whole(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    user = a_user("Grace@Example.com", name="Grace", roles=frozenset({Role.STAFF, Role.ADMIN}))
    await store_users(uow_factory, [user])
    async with uow_factory(read_only=True) as uow:
        loaded = await uow.users.get(user.id)
    assert user.id == 1
    assert loaded is not None
    assert user_state(loaded) == user_state(user)
    assert loaded.email == Email("grace@example.com")


async def test_users_are_found_by_email_whatever_its_case(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    user, other = await store_users(uow_factory, [a_user(), a_user()])
    async with uow_factory(read_only=True) as uow:
        found = await uow.users.by_email(Email(user.email.value.upper()))
        missing = await uow.users.by_email(Email("nobody@example.com"))
    assert found is not None
    assert (found.id, missing) == (user.id, None)
    assert other.id != user.id


async def test_saving_a_user_writes_every_field(uow_factory: SqlUnitOfWorkFactory) -> None:
    (user,) = await store_users(uow_factory, [a_user()])
    async with uow_factory() as uow:
        loaded = await uow.users.get(user.id)
        assert loaded is not None
        loaded.name, loaded.active, loaded.password_hash = "Renamed", False, "new-hash"
        loaded.roles = frozenset({Role.STAFF})
        await uow.users.save(loaded)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        again = await uow.users.get(user.id)
    assert again is not None
    assert user_state(again) == user_state(loaded)


# --- items ---------------------------------------------------------------------------


async def test_get_many_returns_only_existing_items_in_one_mapping(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    stored = await store_items(uow_factory, [an_item(), an_item(), an_item()])
    async with uow_factory(read_only=True) as uow:
        found = await uow.items.get_many([stored[2].id, 999, stored[0].id, stored[0].id])
        empty = await uow.items.get_many([])
    assert {k: item_state(v) for k, v in found.items()} == {
        stored[0].id: item_state(stored[0]),
        stored[2].id: item_state(stored[2]),
    }
    assert empty == {}


async def test_get_of_a_missing_item_is_none(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory(read_only=True) as uow:
        assert await uow.items.get(12345) is None


async def test_saving_an_item_writes_price_stock_and_flags(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    (item,) = await store_items(uow_factory, [an_item(description="plain")])
    async with uow_factory() as uow:
        locked = await uow.items.lock_many([item.id])
        changed = locked[item.id]
        changed.change_price(Money(5, "EUR"))
        changed.stock, changed.active, changed.description = 0, False, "ünïcode"
        await uow.items.save(changed)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        again = await uow.items.get(item.id)
    assert again is not None
    assert item_state(again) == item_state(changed)


async def test_deleted_items_are_gone_and_their_ids_are_not_reused(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    first, second = await store_items(uow_factory, [an_item(), an_item()])
    async with uow_factory() as uow:
        await uow.items.delete(second)
        await uow.commit()
    (third,) = await store_items(uow_factory, [an_item()])
    async with uow_factory(read_only=True) as uow:
        remaining = await uow.items.get_many([first.id, second.id, third.id])
    assert sorted(remaining) == [first.id, third.id]
    assert third.id == second.id + 1


async def test_an_item_is_referenced_once_an_order_line_names_it(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    (customer,) = await store_users(uow_factory, [a_user()])
    used, unused = await store_items(uow_factory, [an_item(), an_item()])
    await store_orders(uow_factory, [an_order(customer.id, [used])])
    async with uow_factory(read_only=True) as uow:
        answers = (await uow.items.is_referenced(used.id), await uow.items.is_referenced(unused.id))
    assert answers == (True, False)


async def test_lock_many_loads_the_requested_items(uow_factory: SqlUnitOfWorkFactory) -> None:
    stored = await store_items(uow_factory, [an_item(), an_item()])
    async with uow_factory() as uow:
        locked = await uow.items.lock_many([stored[1].id, stored[0].id, 404])
    assert {k: item_state(v) for k, v in locked.items()} == {
        item.id: item_state(item) for item in stored
    }


async def test_count_follows_the_specification(uow_factory: SqlUnitOfWorkFactory) -> None:
    await store_items(
        uow_factory, [an_item(stock=0), an_item(stock=3), an_item(stock=7, active=False)]
    )
    async with uow_factory(read_only=True) as uow:
        counts = (
            await uow.items.count(Always()),
            await uow.items.count(field("stock") > 0),
            await uow.items.count((field("stock") > 0) & (field("active") == True)),  # noqa: E712
        )
    assert counts == (3, 2, 1)


async def test_a_page_has_cursors_and_knows_whether_more_follow(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    stored = await store_items(uow_factory, [an_item(name=n) for n in ("b", "a", "c", "a")])
    by_name = Sort("name", Direction.ASC)
    async with uow_factory(read_only=True) as uow:
        first = await uow.items.page(Always(), PageRequest(first=2, sort=by_name))
        rest = await uow.items.page(
            Always(), PageRequest(first=5, after=first.cursors[-1], sort=by_name)
        )
    assert [item.id for item in first.items] == [stored[1].id, stored[3].id]
    assert first.cursors == [Cursor("a", stored[1].id), Cursor("a", stored[3].id)]
    assert (first.has_next_page, first.has_previous_page) == (True, False)
    assert [item.id for item in rest.items] == [stored[0].id, stored[2].id]
    assert (rest.has_next_page, rest.has_previous_page) == (False, True)


async def test_paging_by_price_uses_cents_in_the_cursor(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    cheap, dear = await store_items(
        uow_factory, [an_item(price=Money(100)), an_item(price=Money(900))]
    )
    request = PageRequest(first=1, sort=Sort("price", Direction.DESC))
    async with uow_factory(read_only=True) as uow:
        page = await uow.items.page(Always(), request)
        after = await uow.items.page(
            Always(), PageRequest(first=1, after=page.cursors[0], sort=request.sort)
        )
    assert (page.cursors, [i.id for i in after.items]) == ([Cursor(900, dear.id)], [cheap.id])


@pytest.mark.parametrize(
    ("request_", "field_name"),
    [
        (PageRequest(first=1, sort=Sort("description")), "orderBy"),
        (PageRequest(first=-1), "first"),
        (PageRequest(first=1, after=Cursor("yesterday", 1), sort=Sort("created_at")), "after"),
        (PageRequest(first=1, after=Cursor(5, 1), sort=Sort("name")), "after"),
    ],
)
async def test_bad_page_requests_are_validation_errors(
    uow_factory: SqlUnitOfWorkFactory, request_: PageRequest, field_name: str
) -> None:
    async with uow_factory(read_only=True) as uow:
        with pytest.raises(ValidationError) as raised:
            await uow.items.page(Always(), request_)
    assert [p.field for p in raised.value.problems] == [field_name]


async def test_filtering_on_an_unknown_field_is_a_validation_error(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    async with uow_factory(read_only=True) as uow:
        with pytest.raises(ValidationError) as raised:
            await uow.users.count(field("password_hash") == "x")
    assert str(raised.value) == "password_hash: cannot be filtered on"


# --- orders --------------------------------------------------------------------------


async def test_an_order_comes_back_with_its_lines(uow_factory: SqlUnitOfWorkFactory) -> None:
    (customer,) = await store_users(uow_factory, [a_user()])
    items = await store_items(uow_factory, [an_item(), an_item(), an_item()])
    (order,) = await store_orders(uow_factory, [an_order(customer.id, items)])
    async with uow_factory(read_only=True) as uow:
        loaded = await uow.orders.get(order.id)
        many = await uow.orders.get_many([order.id, 999])
    assert loaded is not None
    assert order_state(loaded) == order_state(order)
    assert [line.id for line in order.lines] == [1, 2, 3]
    assert loaded.total == Money(sum(i.price.cents * q for q, i in enumerate(items, 1)))
    assert {k: list(v.lines) for k, v in many.items()} == {order.id: list(order.lines)}


async def test_saving_an_order_writes_its_status(uow_factory: SqlUnitOfWorkFactory) -> None:
    (customer,) = await store_users(uow_factory, [a_user()])
    (item,) = await store_items(uow_factory, [an_item()])
    (order,) = await store_orders(uow_factory, [an_order(customer.id, [item])])
    async with uow_factory() as uow:
        loaded = await uow.orders.get(order.id)
        assert loaded is not None
        loaded.transition(OrderStatus.PAID)
        await uow.orders.save(loaded)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        again = await uow.orders.get_many([order.id])
    assert order_state(again[order.id]) == order_state(loaded)
    assert again[order.id].status is OrderStatus.PAID


async def test_orders_page_and_count_per_customer(uow_factory: SqlUnitOfWorkFactory) -> None:
    alice, bob, carol = await store_users(uow_factory, [a_user(), a_user(), a_user()])
    (item,) = await store_items(uow_factory, [an_item()])
    orders = await store_orders(
        uow_factory,
        [
            an_order(alice.id, [item]),
            an_order(bob.id, [item], status=OrderStatus.PAID),
            an_order(alice.id, [item], status=OrderStatus.PAID),
            an_order(alice.id, [item]),
        ],
    )
    request = PageRequest(first=2, sort=Sort("created_at", Direction.DESC))
    async with uow_factory(read_only=True) as uow:
        pages = await uow.orders.page_per(
            "customer_id", [alice.id, bob.id, carol.id], Always(), request
        )
        paid = await uow.orders.count_per(
            "customer_id", [alice.id, bob.id, carol.id], field("status") == OrderStatus.PAID
        )
        every = await uow.orders.count_per("customer_id", [alice.id, bob.id, carol.id], Always())
    summary = {key: ([o.id for o in page.items], page.has_next_page) for key, page in pages.items()}
    assert summary == {
        alice.id: ([orders[3].id, orders[2].id], True),
        bob.id: ([orders[1].id], False),
        carol.id: ([], False),
    }
    assert pages[alice.id].cursors == [
        Cursor(orders[3].created_at.isoformat(), orders[3].id),
        Cursor(orders[2].created_at.isoformat(), orders[2].id),
    ]
    assert [order_state(o) for o in pages[alice.id].items] == [
        order_state(orders[3]),
        order_state(orders[2]),
    ]
    assert dict(paid) == {alice.id: 1, bob.id: 1, carol.id: 0}
    assert dict(every) == {alice.id: 3, bob.id: 1, carol.id: 0}


async def test_first_per_customer_continues_after_a_cursor(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    alice, bob = await store_users(uow_factory, [a_user(), a_user()])
    (item,) = await store_items(uow_factory, [an_item()])
    orders = await store_orders(
        uow_factory, [an_order(c.id, [item]) for c in (alice, bob, alice, bob, alice)]
    )
    after = Cursor(orders[1].id, orders[1].id)
    async with uow_factory(read_only=True) as uow:
        pages = await uow.orders.page_per(
            "customer_id", [alice.id, bob.id], Always(), PageRequest(first=1, after=after)
        )
    summary = {k: ([o.id for o in p.items], p.has_next_page) for k, p in pages.items()}
    assert summary == {alice.id: ([orders[2].id], True), bob.id: ([orders[3].id], False)}


async def test_order_lines_keep_their_prices_when_the_item_price_changes(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    (customer,) = await store_users(uow_factory, [a_user()])
    (item,) = await store_items(uow_factory, [an_item(price=Money(250))])
    (order,) = await store_orders(uow_factory, [an_order(customer.id, [item])])
    async with uow_factory() as uow:
        loaded = await uow.items.get(item.id)
        assert loaded is not None
        loaded.change_price(Money(999))
        await uow.items.save(loaded)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        again = await uow.orders.get(order.id)
    assert again is not None
    assert again.lines == (OrderLine(id=1, item_id=item.id, quantity=1, unit_price=Money(250)),)
