"""Two gateways over one seeded database, the read planner on and off, on each backend.

Each database (Postgres and the embedded SQLite) is created once per session (the
Postgres one under a unique name: several engineers run the suite on one server),
seeded deterministically, then given the awkward values the SQL must write exactly
as Python does: non-ASCII and escaped characters in sorted text, timestamps with and
without microseconds, ties on sort keys, an item that orders reference but that is
no longer active. Tests under `postgres/` override `planner_database_url` to
Postgres alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from persistence import migrate, seed, tables
from persistence.database import create_engine
from tests.gateway.planner.executions import executions as executions  # the fixture
from tests.gateway.planner.gateways import Gateway, Planned, open_gateway
from tests.gateway.planner.gateways import planned as planned  # the fixture, for this folder
from tests.helpers import scratch_postgres_database
from tests.services import require_service


async def _awkward(conn: AsyncConnection) -> None:
    """Values chosen to break a careless SQL rendering, written alike on both backends."""
    users, items, orders = tables.USERS, tables.ITEMS, tables.ORDERS

    async def update(table: sa.Table, where: Any, **values: Any) -> None:
        await conn.execute(sa.update(table).where(where).values(**values))

    async def shift(column: sa.Column[Any], where: Any, by: timedelta) -> None:
        table = column.table
        found = await conn.execute(sa.select(table.c.id, column).where(where))
        for ident, value in found.all():
            await update(table, table.c.id == ident, **{column.key: value + by})

    await update(users, users.c.id == 4, name='Zoë "Q" Back\\slash 😀')
    await update(users, users.c.id == 5, name="Tab\there\x7f \x01")
    name_7 = sa.select(users.c.name).where(users.c.id == 7).scalar_subquery()
    await update(users, users.c.id == 6, name=name_7)
    await update(items, items.c.id == 3, name='Crème brûlée ☕ "x"')
    await update(items, items.c.id == 4, name="back\\slash / 100%")
    # Every character class JSON escapes, in a sorted name and in free text.
    await update(
        items,
        items.c.id == 2,
        active=True,
        name='Two\nlines\r\t"q" it\'s \\ / é ☕ 😀',
        description='\x01\x1f\x7f \u2028 \b\f "end"\n',
    )
    await update(items, items.c.id == 5, stock=0, active=False)
    ordered = sa.select(tables.ORDER_LINES.c.item_id).order_by(tables.ORDER_LINES.c.id).limit(1)
    await update(items, items.c.id.in_(ordered), active=False)
    price_8 = sa.select(items.c.price_cents).where(items.c.id == 8).scalar_subquery()
    await update(items, items.c.id == 9, price_cents=price_8)
    await shift(items.c.created_at, items.c.id == 7, timedelta(microseconds=1))
    await shift(orders.c.created_at, orders.c.id % 3 == 0, timedelta(microseconds=123456))
    created_1 = sa.select(orders.c.created_at).where(orders.c.id == 1).scalar_subquery()
    await update(orders, orders.c.id.in_([2, 3]), created_at=created_1)
    await shift(orders.c.updated_at, orders.c.id % 4 == 0, timedelta(microseconds=10))


async def _prepare(url: str) -> None:
    await migrate.upgrade(url)
    engine = create_engine(url)
    try:
        await seed.seed(engine, users=60, items=30, orders=300, seed=11)
        async with engine.begin() as conn:
            await _awkward(conn)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_planner_url(postgres_available: bool) -> Iterator[str]:
    require_service("PostgreSQL", postgres_available)
    with scratch_postgres_database("gw_test_planner") as url:
        asyncio.run(_prepare(url))
        yield url


@pytest.fixture(scope="session")
def sqlite_planner_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("planner") / "planner.db"
    url = f"sqlite+aiosqlite:///{path}"
    asyncio.run(_prepare(url))
    return url


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def planner_database_url(request: pytest.FixtureRequest) -> str:
    """The seeded database of each backend in turn."""
    return str(request.getfixturevalue(f"{request.param}_planner_url"))


@pytest.fixture
async def planner_on(planner_database_url: str, planned: Planned) -> AsyncIterator[Gateway]:
    # `planned` first: the container binds the read model's (spied) fetch when built.
    container, client = await open_gateway(planner_database_url, planner=True)
    async with client:
        yield Gateway(container, client)
    await container.aclose()


@pytest.fixture
async def planner_off(planner_database_url: str) -> AsyncIterator[Gateway]:
    container, client = await open_gateway(planner_database_url, planner=False)
    async with client:
        yield Gateway(container, client)
    await container.aclose()
