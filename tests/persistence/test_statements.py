"""Statement counts: loading orders costs the same whatever the number of rows."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.paging import PageRequest, Sort
from domain.specifications import Always, field
from persistence.statements import count_statements
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.helpers import assert_max_statements
from tests.persistence.builders import (
    a_user,
    an_item,
    an_order,
    store_items,
    store_orders,
    store_users,
)


async def _customers_with_orders(factory: SqlUnitOfWorkFactory, customers: int) -> list[int]:
    users = await store_users(factory, [a_user() for _ in range(customers)])
    items = await store_items(factory, [an_item(), an_item()])
    await store_orders(
        factory, [an_order(user.id, items[: 1 + n % 2]) for user in users for n in range(3)]
    )
    return [user.id for user in users]


@pytest.mark.parametrize("customers", [5, 50])
async def test_a_page_of_orders_per_customer_costs_two_statements(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine, customers: int
) -> None:
    ids = await _customers_with_orders(uow_factory, customers)
    async with uow_factory(read_only=True) as uow:
        with count_statements(engine) as log:
            pages = await uow.orders.page_per(
                "customer_id",
                ids,
                field("status") == "placed",
                PageRequest(first=2, sort=Sort("created_at")),
            )
    assert log.count == 2
    assert [len(pages[i].items) for i in ids] == [2] * customers
    assert sum(len(o.lines) for p in pages.values() for o in p.items) == customers * 3


@pytest.mark.parametrize("customers", [5, 50])
async def test_loading_and_counting_orders_costs_a_fixed_number_of_statements(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine, customers: int
) -> None:
    ids = await _customers_with_orders(uow_factory, customers)
    async with uow_factory(read_only=True) as uow:
        with assert_max_statements(engine, 2):
            found = await uow.orders.get_many(list(range(1, customers * 3 + 1)))
        async with assert_max_statements(engine, 2):
            page = await uow.orders.page(Always(), PageRequest(first=customers))
        with assert_max_statements(engine, 1):
            counts = await uow.orders.count_per("customer_id", ids, Always())
    assert (len(found), len(page.items), set(counts.values())) == (customers * 3, customers, {3})


async def test_assert_max_statements_lists_what_ran_when_exceeded(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    async def two_counts() -> None:
        async with uow_factory(read_only=True) as uow, assert_max_statements(engine, 1):
            await uow.items.count(Always())
            await uow.users.count(Always())

    with pytest.raises(AssertionError) as raised:
        await two_counts()
    # `WHERE true` on Postgres, `WHERE 1 = 1` on SQLite: compare up to the dialect's spelling.
    lines = [line.rsplit(" WHERE ", 1)[0] for line in str(raised.value).splitlines()]
    assert lines == [
        "expected at most 1 statements, got 2:",
        "  1. SELECT count(*) AS count_1 FROM items",
        "  2. SELECT count(*) AS count_1 FROM users",
    ]


async def test_executemany_counts_once(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    (user,) = await store_users(uow_factory, [a_user()])
    items = await store_items(uow_factory, [an_item() for _ in range(5)])
    async with uow_factory() as uow:
        with count_statements(engine) as log:
            await uow.orders.add(an_order(user.id, items))
        await uow.commit()
    assert log.count == 2  # the order, then all five lines
