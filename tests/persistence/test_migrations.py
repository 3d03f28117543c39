"""Migrations: up, down to nothing, up again, on both backends; they match the tables."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from persistence import migrate, tables
from persistence.database import create_engine

APP_TABLES = {"users", "items", "orders", "order_lines"}


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    return names & (APP_TABLES | {"alembic_version"})


async def _indexes(url: str) -> dict[str, list[str]]:
    engine = create_engine(url)

    def read(connection: Connection) -> dict[str, list[str]]:
        inspector = sa.inspect(connection)
        return {
            # SQLite lists the indexes behind unique constraints too; only ours count here.
            t: sorted(
                n for i in inspector.get_indexes(t) if (n := str(i["name"])).startswith("ix_")
            )
            for t in sorted(APP_TABLES)
        }

    try:
        async with engine.connect() as conn:
            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def _drift(url: str) -> list[Any]:
    engine = create_engine(url)

    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection)
        return [
            d
            for d in compare_metadata(context, tables.METADATA)
            if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name not in APP_TABLES)
        ]

    try:
        async with engine.connect() as conn:
            return await conn.run_sync(diff)
    finally:
        await engine.dispose()


async def test_migrations_go_up_down_and_up_again(database_url: str) -> None:
    await migrate.downgrade(database_url, "base")
    after_down = (await migrate.current(database_url), await _tables(database_url))
    await migrate.upgrade(database_url)
    after_up = (await migrate.current(database_url), await _tables(database_url))
    assert after_down == (None, {"alembic_version"})
    assert after_up == ("0001", APP_TABLES | {"alembic_version"})
    assert await _indexes(database_url) == {
        "items": [],
        "order_lines": ["ix_order_lines_item_id", "ix_order_lines_order_id"],
        "orders": ["ix_orders_customer_id_id"],
        "users": [],
    }


async def test_the_migrated_schema_matches_the_table_definitions(database_url: str) -> None:
    assert await _drift(database_url) == []
