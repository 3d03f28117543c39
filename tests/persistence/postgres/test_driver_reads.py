"""Planned reads sent to asyncpg itself: the same answers, events and errors as through
SQLAlchemy's execution (persistence.driver_reads)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import TimedOutError, ValidationError
from persistence.availability import outage_of
from persistence.database import create_engine
from persistence.driver_reads import DriverStatement, compile_for_driver, fetch_text
from persistence.outages import Outage
from persistence.statements import count_statements

CALLER = sa.bindparam("caller_id", type_=sa.Integer)


@pytest.fixture
async def timing_out(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgres_url, statement_timeout_seconds=0.2)
    try:
        yield engine
    finally:
        await engine.dispose()


def _compiled(engine: AsyncEngine, statement: sa.Select[Any]) -> DriverStatement:
    compiled = compile_for_driver(statement, engine.dialect, CALLER.key)
    assert compiled is not None
    return compiled


def _outage(engine: AsyncEngine) -> Outage:
    outage = outage_of(engine)
    assert outage is not None  # create_engine installs it
    return outage


async def test_values_and_the_callers_id_reach_the_driver(postgres_engine: AsyncEngine) -> None:
    statement = sa.select(
        sa.func.concat(
            sa.literal("caller "),
            sa.func.coalesce(sa.cast(CALLER, sa.Text), "nobody"),
            sa.literal(" of 7"),
        )
    )
    compiled = _compiled(postgres_engine, statement)
    async with postgres_engine.connect() as conn:
        answers = [
            await fetch_text(conn, compiled, caller, _outage(postgres_engine))
            for caller in (3, None)
        ]
    assert answers == ["caller 3 of 7", "caller nobody of 7"]


async def test_each_read_fires_the_engines_statement_events(
    postgres_engine: AsyncEngine,
) -> None:
    # The statement counters, the N+1 guard and the database spans listen to these.
    ended: list[str] = []

    def after(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        ended.append(statement.split(None, 1)[0])

    sa.event.listen(postgres_engine.sync_engine, "after_cursor_execute", after)
    compiled = _compiled(postgres_engine, sa.select(sa.literal(1)))
    with count_statements(postgres_engine) as log:
        async with postgres_engine.connect() as conn:
            for _ in range(3):
                await fetch_text(conn, compiled, None, _outage(postgres_engine))
    assert (log.count, ended) == (3, ["SELECT"] * 3)


async def test_a_statement_past_the_timeout_is_timed_out_and_the_pool_serves_on(
    timing_out: AsyncEngine,
) -> None:
    sleep = _compiled(timing_out, sa.select(sa.func.pg_sleep(30).cast(sa.Text)))
    one = _compiled(timing_out, sa.select(sa.literal(1)))
    async with timing_out.connect() as conn:
        with pytest.raises(TimedOutError):
            await fetch_text(conn, sleep, None, _outage(timing_out))
        assert await fetch_text(conn, one, None, _outage(timing_out)) == 1


async def test_a_value_the_database_refuses_is_the_clients_error(
    postgres_engine: AsyncEngine,
) -> None:
    refused = _compiled(postgres_engine, sa.select(sa.cast(sa.literal("not a number"), sa.Integer)))
    async with postgres_engine.connect() as conn:
        with pytest.raises(ValidationError):
            await fetch_text(conn, refused, None, _outage(postgres_engine))


async def test_a_cancelled_read_discards_its_connection(postgres_engine: AsyncEngine) -> None:
    # As SQLAlchemy does: a connection cancelled under a statement is not handed out
    # again (the server may still be running the statement when the next caller comes).
    sleep = _compiled(postgres_engine, sa.select(sa.func.pg_sleep(30).cast(sa.Text)))
    backend = _compiled(postgres_engine, sa.select(sa.func.pg_backend_pid()))
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def read() -> None:
        async with postgres_engine.connect() as conn:
            started.set_result(await fetch_text(conn, backend, None, _outage(postgres_engine)))
            await fetch_text(conn, sleep, None, _outage(postgres_engine))

    task = asyncio.create_task(read())
    cancelled_pid = await started
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with postgres_engine.connect() as conn:
        pid = await asyncio.wait_for(fetch_text(conn, backend, None, _outage(postgres_engine)), 10)
    assert pid != cancelled_pid


def test_parameters_that_need_sqlalchemy_stay_with_sqlalchemy(postgres_engine: AsyncEngine) -> None:
    dialect = postgres_engine.dialect
    expanding = sa.select(sa.literal(1)).where(sa.literal(2).in_([1, 2, 3]))
    processed = sa.select(sa.cast(sa.bindparam("doc", {"a": 1}, type_=sa.JSON), sa.Text))
    assert [compile_for_driver(s, dialect, CALLER.key) for s in (expanding, processed)] == [
        None,
        None,
    ]
