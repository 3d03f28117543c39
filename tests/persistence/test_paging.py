"""Keyset paging visits every row exactly once, in order, whatever the page size."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.items import Item
from domain.money import Money
from domain.paging import Cursor, Direction, PageRequest, Sort
from domain.specifications import Always, Specification, field
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.persistence.builders import BASE_TIME, store_items

# Repeated names, prices, stocks and times, so the id tie-breaker matters.
ROWS = 23


def _catalog() -> list[Item]:
    return [
        Item(
            sku=f"PAGE-{n:03d}",
            name=["pear", "Apple", "apple", "Äpfel", "kiwi"][n % 5],
            price=Money([300, 100, 200][n % 3]),
            stock=n % 4,
            created_at=BASE_TIME + timedelta(minutes=n % 6),
        )
        for n in range(ROWS)
    ]


@pytest.fixture
async def catalog(uow_factory: SqlUnitOfWorkFactory) -> list[Item]:
    return await store_items(uow_factory, _catalog())


def _sort_value(item: Item, name: str) -> Any:
    value = getattr(item, name)
    return value.cents if isinstance(value, Money) else value


def expected_order(items: list[Item], sort: Sort, spec: Specification) -> list[int]:
    chosen = [item for item in items if spec.is_satisfied_by(item)]
    reverse = sort.direction is Direction.DESC
    chosen.sort(key=lambda item: (_sort_value(item, sort.field), item.id), reverse=reverse)
    return [item.id for item in chosen]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    sort=st.builds(
        Sort,
        st.sampled_from(["id", "name", "price", "stock", "created_at", "sku"]),
        st.sampled_from(list(Direction)),
    ),
    sizes=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=5),
    in_stock_only=st.booleans(),
)
async def test_paging_visits_every_row_once_in_order(
    uow_factory: SqlUnitOfWorkFactory,
    catalog: list[Item],
    sort: Sort,
    sizes: list[int],
    in_stock_only: bool,
) -> None:
    spec = field("stock") > 0 if in_stock_only else Always()
    seen: list[int] = []
    after: Cursor | None = None
    pages = 0
    async with uow_factory(read_only=True) as uow:
        while True:
            size = sizes[pages % len(sizes)]
            page = await uow.items.page(spec, PageRequest(first=size, after=after, sort=sort))
            pages += 1
            assert len(page.items) == len(page.cursors) <= size
            assert page.has_previous_page is (after is not None)
            seen.extend(item.id for item in page.items)
            if not page.has_next_page:
                break
            assert len(page.items) == size
            after = Cursor.decode(page.cursors[-1].encode())
            assert pages <= ROWS + 1
    assert seen == expected_order(catalog, sort, spec)
