"""Planned reads sent to asyncpg itself, on the engine's pool: the same answers, events,
errors and pool bookkeeping as through SQLAlchemy's execution (persistence.driver_reads)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util.concurrency import greenlet_spawn

from domain.errors import TimedOutError, UnavailableError, ValidationError
from persistence.availability import outage_of
from persistence.database import create_engine
from persistence.driver_reads import DriverReads, DriverStatement, compile_for_driver
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


def _reads(engine: AsyncEngine) -> DriverReads:
    outage = outage_of(engine)
    assert outage is not None  # create_engine installs it
    return DriverReads(engine, outage)


def _checked_out(engine: AsyncEngine) -> int:
    pool = engine.pool
    assert isinstance(pool, sa.pool.QueuePool)
    return pool.checkedout()


async def test_values_and_the_callers_id_reach_the_driver(postgres_engine: AsyncEngine) -> None:
    statement = sa.select(
        sa.func.concat(
            sa.literal("caller "),
            sa.func.coalesce(sa.cast(CALLER, sa.Text), "nobody"),
            sa.literal(" of 7"),
        )
    )
    compiled = _compiled(postgres_engine, statement)
    reads = _reads(postgres_engine)
    answers = [await reads.fetch([compiled, compiled], caller) for caller in (3, None)]
    assert answers == [["caller 3 of 7"] * 2, ["caller nobody of 7"] * 2]
    assert _checked_out(postgres_engine) == 0


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
        await _reads(postgres_engine).fetch([compiled] * 3, None)
    assert (log.count, ended) == (3, ["SELECT"] * 3)


async def test_a_statement_past_the_timeout_is_timed_out_and_the_pool_serves_on(
    timing_out: AsyncEngine,
) -> None:
    sleep = _compiled(timing_out, sa.select(sa.func.pg_sleep(30).cast(sa.Text)))
    one = _compiled(timing_out, sa.select(sa.literal(1)))
    reads = _reads(timing_out)
    with pytest.raises(TimedOutError):
        await reads.fetch([sleep], None)
    assert _checked_out(timing_out) == 0
    assert await reads.fetch([one], None) == [1]


async def test_a_value_the_database_refuses_is_the_clients_error(
    postgres_engine: AsyncEngine,
) -> None:
    refused = _compiled(postgres_engine, sa.select(sa.cast(sa.literal("not a number"), sa.Integer)))
    with pytest.raises(ValidationError):
        await _reads(postgres_engine).fetch([refused], None)
    assert _checked_out(postgres_engine) == 0


async def test_a_cancelled_read_discards_its_connection(postgres_engine: AsyncEngine) -> None:
    # As SQLAlchemy does: a connection cancelled under a statement is not handed out
    # again (the server may still be running the statement when the next caller comes).
    sleep = _compiled(postgres_engine, sa.select(sa.func.pg_sleep(30).cast(sa.Text)))
    backend = _compiled(postgres_engine, sa.select(sa.func.pg_backend_pid()))
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def sleeping_on(conn: sa.Connection, _cursor: Any, statement: str, *_: Any) -> None:
        # The listeners are handed the Connection of the pooled connection the read runs on.
        driver = conn.connection.driver_connection
        if "pg_sleep" in statement and driver is not None:
            started.set_result(driver.get_server_pid())

    sa.event.listen(postgres_engine.sync_engine, "before_cursor_execute", sleeping_on)
    reads = _reads(postgres_engine)
    task = asyncio.create_task(reads.fetch([sleep], None))
    cancelled_pid = await started
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _checked_out(postgres_engine) == 0
    pids = [await asyncio.wait_for(reads.fetch([backend], None), 10) for _ in range(5)]
    assert cancelled_pid not in {pid for (pid,) in pids}


async def test_reads_wait_for_the_pools_connections(postgres_url: str) -> None:
    # The pool's size holds for these reads: with one connection, the second read waits
    # for the first to give it back, and both run on the same server backend.
    engine = create_engine(postgres_url, pool_size=1)
    try:
        backend = _compiled(engine, sa.select(sa.func.pg_backend_pid()))
        slow = _compiled(engine, sa.select(sa.func.pg_sleep(0.3).cast(sa.Text)))
        reads = _reads(engine)
        first = asyncio.create_task(reads.fetch([backend, slow], None))
        await asyncio.sleep(0.1)
        assert _checked_out(engine) == 1
        second = await reads.fetch([backend], None)
        assert first.done()
        assert (await first)[0] == second[0]
        assert _checked_out(engine) == 0
    finally:
        await engine.dispose()


async def test_a_lost_connection_is_unavailable_and_replaced(
    postgres_engine: AsyncEngine, postgres_url: str
) -> None:
    backend = _compiled(postgres_engine, sa.select(sa.func.pg_backend_pid()))
    reads = _reads(postgres_engine)
    (pid,) = await reads.fetch([backend], None)
    # A backend killed while its connection sits in the pool (as a server restart does),
    # taken again within the ping window: its first statement finds it gone.
    admin = create_engine(postgres_url)
    try:
        async with admin.connect() as conn:
            await conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await admin.dispose()
    await asyncio.sleep(0.2)
    answers: list[int] = []
    for _ in range(6):  # the pool's connections in turn, the killed one among them
        try:
            answers.extend(await reads.fetch([backend], None))
        except UnavailableError:
            answers.append(-1)
    assert -1 in answers
    assert pid not in answers
    assert _checked_out(postgres_engine) == 0


def test_parameters_that_need_sqlalchemy_stay_with_sqlalchemy(postgres_engine: AsyncEngine) -> None:
    dialect = postgres_engine.dialect
    expanding = sa.select(sa.literal(1)).where(sa.literal(2).in_([1, 2, 3]))
    processed = sa.select(sa.cast(sa.bindparam("doc", {"a": 1}, type_=sa.JSON), sa.Text))
    assert [compile_for_driver(s, dialect, CALLER.key) for s in (expanding, processed)] == [
        None,
        None,
    ]


def _count_greenlet_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the functions the reads run in a greenlet, in order (a spy: the
    greenlet runs are what a ready connection spares)."""
    runs: list[str] = []

    async def spawn(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        runs.append(getattr(fn, "__name__", repr(fn)))
        return await greenlet_spawn(fn, *args, **kwargs)

    monkeypatch.setattr("persistence.driver_reads.greenlet_spawn", spawn)
    return runs


def _pool_events(engine: AsyncEngine) -> list[str]:
    """The pool's checkout and checkin events, in order (the pool gauge follows them)."""
    events: list[str] = []
    for name in ("checkout", "checkin"):
        sa.event.listen(engine.pool, name, lambda *_, name=name: events.append(name))
    return events


async def test_a_ready_connection_is_read_on_without_a_greenlet_and_counted_by_the_pool(
    postgres_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _compiled(postgres_engine, sa.select(sa.func.pg_backend_pid()))
    reads = _reads(postgres_engine)
    (pid,) = await reads.fetch([backend], None)  # opens the pool's first connection
    runs, events = _count_greenlet_runs(monkeypatch), _pool_events(postgres_engine)
    pids = [await reads.fetch([backend], None) for _ in range(3)]
    pool = postgres_engine.pool
    assert isinstance(pool, sa.pool.QueuePool)
    assert (runs, events, pids) == ([], ["checkout", "checkin"] * 3, [[pid]] * 3)
    assert (pool.checkedout(), pool.checkedin()) == (0, 1)


async def test_a_read_on_a_connection_idle_past_the_window_pings_it_first(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(postgres_url, ping_after_idle_seconds=0.05)
    try:
        backend = _compiled(engine, sa.select(sa.func.pg_backend_pid()))
        reads = _reads(engine)
        (pid,) = await reads.fetch([backend], None)
        pings: list[str] = []
        real_ping = engine.dialect.do_ping

        def do_ping(dbapi_connection: Any) -> bool:
            pings.append("ping")
            return bool(real_ping(dbapi_connection))

        monkeypatch.setattr(engine.dialect, "do_ping", do_ping)
        runs = _count_greenlet_runs(monkeypatch)
        await asyncio.sleep(0.25)
        assert await reads.fetch([backend], None) == [pid]
        assert (pings, runs) == (["ping"], ["raw_connection"])
    finally:
        await engine.dispose()


async def test_a_connection_killed_while_idle_is_replaced_before_a_read(
    postgres_url: str,
) -> None:
    engine = create_engine(postgres_url, ping_after_idle_seconds=0.05)
    admin = create_engine(postgres_url)
    try:
        backend = _compiled(engine, sa.select(sa.func.pg_backend_pid()))
        reads = _reads(engine)
        (pid,) = await reads.fetch([backend], None)
        async with admin.connect() as conn:
            statement = sa.text("SELECT pg_terminate_backend(:pid, 5000)")
            await conn.execute(statement, {"pid": pid})
        await asyncio.sleep(0.25)
        (replacement,) = await reads.fetch([backend], None)  # the failed ping replaced it
        assert replacement != pid
        assert _checked_out(engine) == 0
    finally:
        await admin.dispose()
        await engine.dispose()


async def test_after_a_disconnect_invalidates_the_pool_a_read_gets_a_new_connection(
    postgres_engine: AsyncEngine, postgres_url: str
) -> None:
    # SQLAlchemy invalidates the whole pool when a statement finds its connection gone:
    # the connections opened before are reconnected at their next checkout, a planned
    # read's included.
    backend = _compiled(postgres_engine, sa.select(sa.func.pg_backend_pid()))
    reads = _reads(postgres_engine)
    (kept,) = await reads.fetch([backend], None)
    admin = create_engine(postgres_url)
    first, second = await postgres_engine.connect(), await postgres_engine.connect()
    try:
        pid = sa.text("SELECT pg_backend_pid()")
        assert (await first.execute(pid)).scalar_one() == kept
        lost = (await second.execute(pid)).scalar_one()
        async with admin.connect() as conn:
            statement = sa.text("SELECT pg_terminate_backend(:pid, 5000)")
            await conn.execute(statement, {"pid": lost})
        with pytest.raises(UnavailableError):
            await second.execute(pid)
        await first.close()
    finally:
        await second.close()
        await admin.dispose()
    # In line: the lost one's record (invalidated, back at once), then the kept one.
    pids = [await reads.fetch([backend], None) for _ in range(2)]
    assert {kept, lost}.isdisjoint(pid for (pid,) in pids)
    assert _checked_out(postgres_engine) == 0


async def test_with_a_pool_reset_listener_a_read_is_checked_in_through_the_reset(
    postgres_engine: AsyncEngine,
) -> None:
    # A lent connection is checked in without the proxy's reset: with a listener on
    # the pool's `reset` event, the reads check out as SQLAlchemy does, and it fires.
    backend = _compiled(postgres_engine, sa.select(sa.func.pg_backend_pid()))
    reads = _reads(postgres_engine)
    await reads.fetch([backend], None)
    resets: list[str] = []
    sa.event.listen(postgres_engine.pool, "reset", lambda *_: resets.append("reset"))
    events = _pool_events(postgres_engine)
    for _ in range(2):
        await reads.fetch([backend], None)
    assert (resets, events) == (["reset"] * 2, ["checkout", "checkin"] * 2)
    assert _checked_out(postgres_engine) == 0
