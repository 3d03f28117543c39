"""A planned read sees committed data only, and does not wait for a writer.

Planned reads run without a transaction of their own (autocommit on Postgres, no
BEGIN on SQLite): each statement reads the last committed state. On SQLite that rests
on WAL mode, where readers never wait for the write lock a writer holds.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from persistence import tables
from persistence.database import create_engine
from schema.node import to_global_id
from tests.gateway.planner.gateways import Gateway, Planned

ITEM = 3
QUERY = f'{{ item(id: "{to_global_id("Item", ITEM)}") {{ name }} }}'


async def test_a_planned_read_sees_only_committed_data_while_a_writer_holds_its_lock(
    planner_database_url: str, planner_on: Gateway, planned: Planned
) -> None:
    before = await planner_on.ask(QUERY)
    writer = create_engine(planner_database_url)
    try:
        # On SQLite the transaction starts with BEGIN IMMEDIATE: the write lock is held
        # until the rollback, which leaves the shared seed as it was.
        async with writer.connect() as conn, conn.begin() as transaction:
            dirty = sa.update(tables.ITEMS).where(tables.ITEMS.c.id == ITEM).values(name="dirty")
            await conn.execute(dirty)
            during = await asyncio.wait_for(planner_on.ask(QUERY), timeout=5)
            await transaction.rollback()
    finally:
        await writer.dispose()
    assert before.body["data"]["item"]["name"] != "dirty"
    assert (during.status, during.body) == (before.status, before.body)
    assert planned.count == 2
