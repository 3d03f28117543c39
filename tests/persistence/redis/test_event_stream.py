"""Committed events reach the Redis stream, even when the process dies before publishing.

On SQLite and Postgres, with a unique stream per test on the shared Redis.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import subprocess
import sys
import textwrap
from typing import cast

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import ResumeExpiredError
from domain.events import DomainEvent, ItemPriceChanged
from domain.money import Money
from persistence.event_codec import decode_event
from persistence.outbox_relay import OutboxRelay
from persistence.redis_event_bus import EVENT_FIELD, Entry, RedisEventBus
from tests.helpers import PROJECT_ROOT
from tests.services import REDIS_URL


async def in_stream(redis: Redis, stream: str) -> list[DomainEvent]:
    entries = cast("list[Entry]", await redis.xrange(stream))  # bytes mode
    return [decode_event(fields[EVENT_FIELD]) for _id, fields in entries]


# Commits one event, then dies (SIGKILL) when its relay is about to publish it.
DYING_PROCESS = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from redis.asyncio import Redis
    from domain.events import ItemPriceChanged
    from domain.money import Money
    from persistence.database import create_engine
    from persistence.outbox_relay import OutboxRelay
    from persistence.redis_event_bus import RedisEventBus
    from persistence.unit_of_work import SqlUnitOfWorkFactory

    def die(point):
        if point == "before_publish":
            os.kill(os.getpid(), signal.SIGKILL)

    async def main(url, redis_url, stream, event_id):
        engine = create_engine(url)
        bus = RedisEventBus(Redis.from_url(redis_url), stream=stream)
        relay = OutboxRelay(engine, bus, fault=die)
        uow = SqlUnitOfWorkFactory(engine, on_events_committed=relay.wake)
        async with uow() as unit:
            unit.record(ItemPriceChanged(
                item_id=7, previous=Money(100), current=Money(150), event_id=event_id))
            await unit.commit()
        await asyncio.sleep(30)

    asyncio.run(main(*sys.argv[1:]))
    """
)


async def test_an_event_committed_by_a_process_killed_before_publishing_goes_out_after(
    engine: AsyncEngine, database_url: str, redis: Redis, stream: str
) -> None:
    event_id = secrets.token_hex(16)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        DYING_PROCESS,
        database_url,
        REDIS_URL,
        stream,
        event_id,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
    )
    async with asyncio.timeout(60):
        assert await process.wait() == -signal.SIGKILL
    assert await in_stream(redis, stream) == []
    # The restarted process's relay finds the committed event in the outbox.
    relay = OutboxRelay(engine, RedisEventBus(redis, stream=stream))
    assert await relay.drain() == 1
    (event,) = await in_stream(redis, stream)
    assert event == ItemPriceChanged(
        item_id=7,
        previous=Money(100),
        current=Money(150),
        event_id=event_id,
        occurred_at=event.occurred_at,
    )


async def test_every_replica_reads_every_event_from_where_it_started(
    redis: Redis, stream: str
) -> None:
    before = ItemPriceChanged(item_id=1, previous=Money(1), current=Money(2))
    publisher = RedisEventBus(redis, stream=stream)
    await publisher.publish([before])
    replicas = [RedisEventBus(redis, stream=stream) for _ in range(2)]
    subscriptions = [replica.subscribe() for replica in replicas]
    for replica in replicas:
        await replica.ready()
    after = [ItemPriceChanged(item_id=1, previous=Money(n), current=Money(n + 1)) for n in range(3)]
    await publisher.publish(after)
    try:
        for subscription in subscriptions:
            async with asyncio.timeout(10):
                received = [await anext(subscription) for _ in after]
            # Nothing from before it listened; everything after, in order, once.
            assert received == after
    finally:
        for replica in replicas:
            await replica.aclose()


async def test_resuming_on_a_replica_behind_the_client_sends_nothing_twice(
    redis: Redis, stream: str
) -> None:
    publisher = RedisEventBus(redis, stream=stream)
    events = [
        ItemPriceChanged(item_id=n, previous=Money(100), current=Money(150)) for n in range(4)
    ]
    await publisher.publish(events)
    ids = [entry_id.decode() for entry_id, _ in cast("list[Entry]", await redis.xrange(stream))]
    lagging = RedisEventBus(redis, stream=stream, resume_window=10)
    # This replica has read the first entry only; the client saw the third elsewhere.
    lagging.position = ids[0]
    marker = ItemPriceChanged(item_id=9, previous=Money(100), current=Money(150))
    try:
        with await lagging.resume([], ids[2]) as resumed:
            fourth = await asyncio.wait_for(anext(resumed), 5)
            position = resumed.position
            await publisher.publish([marker])
            # Had the second or third come (again), it would be here instead of the marker.
            after_it = await asyncio.wait_for(anext(resumed), 5)
    finally:
        await lagging.aclose()
    assert (fourth, position, after_it) == (events[3], ids[3], marker)


async def test_resuming_from_an_entry_no_longer_in_the_stream_is_refused(
    redis: Redis, stream: str
) -> None:
    bus = RedisEventBus(redis, stream=stream, resume_window=10)
    await bus.publish([ItemPriceChanged(item_id=1, previous=Money(100), current=Money(150))])
    try:
        with pytest.raises(ResumeExpiredError) as refused:
            await bus.resume([], "1-0")  # trimmed away (or never there): a gap, not zero events
    finally:
        await bus.aclose()
    assert (str(refused.value), bus.subscriber_count) == (
        "cannot resume after event 1-0: only the last 10 events are kept",
        0,
    )
