"""Demo data: deterministic, the requested size, consistent, fast, and never doubled."""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.orders import OrderStatus
from domain.paging import PageRequest
from domain.passwords import PasswordPolicy
from domain.specifications import Always
from domain.users import Email, Role
from persistence import tables
from persistence.database import create_engine
from persistence.event_bus import InProcessEventBus
from persistence.seed import (
    DEMO_PASSWORD,
    AlreadySeededError,
    DemoEmailTakenError,
    SeedSummary,
    seed,
)
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.orders import order_service, unit_of_work_factory
from tests.persistence.builders import a_user, an_item
from tests.persistence.databases import sqlite_url_for


class Sizes(TypedDict):
    users: int
    items: int
    orders: int


SMALL: Sizes = {"users": 40, "items": 30, "orders": 200}


async def _dump(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    dump: dict[str, list[tuple[Any, ...]]] = {}
    async with engine.connect() as conn:
        for table in (tables.USERS, tables.ITEMS, tables.ORDERS, tables.ORDER_LINES):
            rows = await conn.execute(sa.select(table).order_by(table.c.id))
            dump[table.name] = [tuple(row) for row in rows]
    return dump


async def _seeded_copy(template: Path, tmp_path: Path, name: str, seed_value: int) -> Any:
    path = tmp_path / name
    await asyncio.to_thread(shutil.copyfile, template, path)
    engine = create_engine(sqlite_url_for(path))
    try:
        await seed(engine, seed=seed_value, password_hash="fixed", **SMALL)
        return await _dump(engine)
    finally:
        await engine.dispose()


async def test_the_same_seed_gives_the_same_data(sqlite_template: Path, tmp_path: Path) -> None:
    first = await _seeded_copy(sqlite_template, tmp_path, "a.db", 7)
    second = await _seeded_copy(sqlite_template, tmp_path, "b.db", 7)
    other = await _seeded_copy(sqlite_template, tmp_path, "c.db", 8)
    assert first == second
    assert first != other
    assert {k: len(v) for k, v in first.items()} == {k: len(v) for k, v in second.items()}


async def test_seeded_data_has_the_requested_shape(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    progress: list[tuple[str, int, int]] = []
    summary = await seed(
        uow_factory,
        **SMALL,
        password_hash_for=lambda password: f"hashed:{password}",
        on_progress=lambda *p: progress.append(p),
    )
    async with uow_factory(read_only=True) as uow:
        admin = await uow.users.by_email(Email("admin@example.com"))
        users = await uow.users.page(Always(), PageRequest(first=100))
        items = await uow.items.page(Always(), PageRequest(first=100))
        orders = await uow.orders.page(Always(), PageRequest(first=300))
    async with engine.connect() as conn:
        line_count = (
            await conn.execute(sa.select(sa.func.count()).select_from(tables.ORDER_LINES))
        ).scalar_one()
    roles = [user.roles for user in users.items]
    assert summary == SeedSummary(
        users=40,
        staff=1,
        customers=38,
        items=30,
        orders=200,
        lines=line_count,
        admin_email="admin@example.com",
        seed=42,
    )
    assert admin is not None
    assert (admin.id, admin.roles, admin.password_hash) == (
        1,
        frozenset({Role.ADMIN, Role.STAFF}),
        f"hashed:{DEMO_PASSWORD}",
    )
    assert roles.count(frozenset({Role.CUSTOMER})) == 38
    assert [u.email.value for u in users.items[2:4]] == ["user3@example.com", "user4@example.com"]
    assert [i.sku for i in items.items[:2]] == ["ITEM-0001", "ITEM-0002"]
    assert all(item.stock >= 0 for item in items.items)
    assert {len(o.lines) for o in orders.items} <= set(range(1, 7))
    assert {o.status for o in orders.items} == set(OrderStatus) - {OrderStatus.PLACED}
    assert {o.customer_id for o in orders.items} <= {u.id for u in users.items[2:]}
    assert progress == [
        ("users", 40, 40),
        ("items", 30, 30),
        ("orders", 200, 200),
        ("order_lines", line_count, line_count),
    ]


async def test_new_rows_after_seeding_get_fresh_ids(uow_factory: SqlUnitOfWorkFactory) -> None:
    await seed(uow_factory, **SMALL)
    async with uow_factory() as uow:
        item = an_item()
        await uow.items.add(item)
        await uow.commit()
    assert item.id == SMALL["items"] + 1


async def test_seeding_twice_is_refused_by_the_marker(uow_factory: SqlUnitOfWorkFactory) -> None:
    await seed(uow_factory, users=3, items=2, orders=2, seed=5)
    with pytest.raises(AlreadySeededError) as raised:
        await seed(uow_factory, users=3, items=2, orders=2)
    assert str(raised.value) == "the demo data is already there (seed 5)"


async def test_a_user_registered_first_neither_blocks_the_seed_nor_loses_id_1(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    async with uow_factory() as uow:
        early = a_user("early@example.org")
        await uow.users.add(early)
        item = an_item()
        await uow.items.add(item)
        await uow.commit()
    summary = await seed(uow_factory, password_hash="fixed", **SMALL)
    async with engine.connect() as conn:
        users = (await conn.execute(sa.select(tables.USERS.c.id, tables.USERS.c.email))).all()
        lines = await conn.execute(
            sa.select(tables.ORDER_LINES.c.item_id, tables.ORDERS.c.customer_id).join(
                tables.ORDERS, tables.ORDERS.c.id == tables.ORDER_LINES.c.order_id
            )
        )
        referenced = lines.all()
    assert (early.id, item.id) == (1, 1)
    assert sorted(users)[:3] == [
        (1, "early@example.org"),
        (2, "admin@example.com"),
        (3, "staff1@example.com"),
    ]
    assert summary.users == SMALL["users"]
    # Every seeded line points at a seeded item and customer, never at the early rows.
    assert {item_id for item_id, _ in referenced} <= set(range(2, SMALL["items"] + 2))
    assert {customer for _, customer in referenced} <= set(range(4, SMALL["users"] + 2))


async def test_a_taken_demo_email_is_refused_naming_it(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.users.add(a_user("user3@example.com"))
        await uow.commit()
    with pytest.raises(DemoEmailTakenError) as raised:
        await seed(uow_factory, **SMALL)
    assert str(raised.value) == (
        "user3@example.com is already registered: the demo data needs its emails free"
    )


async def test_the_seed_never_runs_out_of_stock(engine: AsyncEngine) -> None:
    # 40 items and 20,000 orders once left 82% of the orders cancelled for want of stock.
    await seed(engine, users=60, items=40, orders=20_000, password_hash="fixed")
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(tables.ORDERS.c.status, sa.func.count()).group_by(tables.ORDERS.c.status)
        )
        shares = {status: count / 20_000 for status, count in rows}
        stock = (await conn.execute(sa.select(sa.func.min(tables.ITEMS.c.stock)))).scalar_one()
    assert abs(shares[OrderStatus.CANCELLED.value] - 0.15) < 0.02
    assert stock >= 0


async def test_the_first_start_changes_no_seeded_order(engine: AsyncEngine) -> None:
    # The unpaid-order job runs as `make run` starts; a seeded order it could cancel would
    # change the data (and the README's answers) under the user (59 of 200 once did).
    await seed(engine, users=50, items=40, orders=200, seed=42, password_hash="fixed")
    before = await _dump(engine)
    orders = order_service(unit_of_work_factory(engine), InProcessEventBus())
    cancelled = await orders.cancel_unpaid(datetime.now(UTC), limit=1_000)
    assert (cancelled, await _dump(engine)) == ([], before)


def test_the_demo_password_meets_the_default_policy() -> None:
    assert PasswordPolicy().problems(DEMO_PASSWORD) == []


async def test_the_full_demo_set_loads_in_seconds(uow_factory: SqlUnitOfWorkFactory) -> None:
    started = time.perf_counter()
    summary = await seed(uow_factory)
    elapsed = time.perf_counter() - started
    async with uow_factory(read_only=True) as uow:
        counts = (
            await uow.users.count(Always()),
            await uow.items.count(Always()),
            await uow.orders.count(Always()),
        )
    assert counts == (1_000, 500, 10_000)
    assert 30_000 <= summary.lines <= 40_000
    assert elapsed < 20, f"seeding took {elapsed:.1f}s"


async def test_seeding_leaves_planner_statistics(engine: AsyncEngine) -> None:
    """The query planner knows the seeded tables' sizes (not its defaults for empty ones)."""
    async with engine.connect() as conn:
        started = (await conn.execute(sa.text("SELECT CURRENT_TIMESTAMP"))).scalar_one()
    await seed(engine, password_hash="fixed", **SMALL)
    async with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = await conn.execute(
                sa.text(
                    "SELECT relname, last_analyze FROM pg_stat_user_tables "
                    "WHERE relname IN ('users', 'items', 'orders', 'order_lines')"
                )
            )
            analyzed = {name: when is not None and when >= started for name, when in rows}
        else:
            rows = await conn.execute(sa.text("SELECT DISTINCT tbl FROM sqlite_stat1"))
            analyzed = {name: True for (name,) in rows}
    assert {t: analyzed.get(t, False) for t in ("users", "items", "orders", "order_lines")} == {
        "users": True,
        "items": True,
        "orders": True,
        "order_lines": True,
    }
