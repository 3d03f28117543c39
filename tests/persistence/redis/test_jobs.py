"""One-off and delayed jobs with Redis: the relay appends them to the handler streams, a
stream worker runs them with retries and dead-letters the one that keeps failing.

On SQLite and Postgres, with streams of the test's own on the shared Redis.
"""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.handlers import EventHandlers
from domain.jobs import JobQueue, Jobs
from persistence.event_codec import decode_event
from persistence.handler_runner import HandlerRunner, RedisProcessedEvents, RetryPolicy
from persistence.outbox_relay import OutboxRelay
from persistence.redis_event_bus import RedisEventBus
from persistence.stream_worker import Entry, StreamWorker, dead_letter_stream
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.persistence.jobs_support import Clock, Work

PARTITIONS = 2
ATTEMPTS = 3


async def no_wait(_seconds: float) -> None:
    return None


async def running(redis: Redis, stream: str, jobs: Jobs) -> StreamWorker:
    handlers = EventHandlers()
    jobs.register(handlers)
    runner = HandlerRunner(
        RedisProcessedEvents(redis, prefix=f"{stream}:done:", remember_seconds=600),
        RetryPolicy(attempts=ATTEMPTS, base_seconds=0),
        sleep=no_wait,
    )
    worker = StreamWorker(
        redis, handlers, runner, stream=stream, partitions=PARTITIONS, consumer="w1"
    )
    await worker.prepare()
    await worker.refresh_leases()
    return worker


def relay(engine: AsyncEngine, redis: Redis, stream: str, clock: Clock) -> OutboxRelay:
    bus = RedisEventBus(redis, stream=stream, handler_partitions=PARTITIONS)
    return OutboxRelay(engine, bus, clock=clock)


async def test_a_worker_runs_a_job_now_and_a_delayed_one_once_due(
    engine: AsyncEngine, uow_factory: SqlUnitOfWorkFactory, redis: Redis, stream: str
) -> None:
    clock, work = Clock(), Work()
    jobs = work.jobs(clock)
    worker = await running(redis, stream, jobs)
    outbox = relay(engine, redis, stream, clock)
    queue = JobQueue(uow_factory, jobs)
    await queue.enqueue("note", {"n": 1}, delay=timedelta(minutes=5))
    await queue.enqueue("note", {"n": 2})
    assert (await outbox.drain(), await worker.step(), work.runs) == (1, 1, [("note", {"n": 2})])
    clock.now += timedelta(minutes=5)
    assert (await outbox.drain(), await worker.step()) == (1, 1)
    assert work.runs == [("note", {"n": 2}), ("note", {"n": 1})]


async def test_a_worker_retries_a_failing_job_and_dead_letters_one_that_keeps_failing(
    engine: AsyncEngine, uow_factory: SqlUnitOfWorkFactory, redis: Redis, stream: str
) -> None:
    clock, work = Clock(), Work()
    jobs = work.jobs(clock, failures=ATTEMPTS - 1)
    worker = await running(redis, stream, jobs)
    outbox = relay(engine, redis, stream, clock)
    queue = JobQueue(uow_factory, jobs)
    await queue.enqueue("flaky")
    broken = await queue.enqueue("broken", {"order": 7})
    assert await outbox.drain() == 2
    done = 0
    for _ in range(5):  # the two jobs may sit in different partitions
        done += await worker.step()
    assert done == 2
    assert sorted(work.runs) == sorted(
        [("flaky", {})] * ATTEMPTS + [("broken", {"order": 7})] * ATTEMPTS
    )
    dead = cast("list[Entry]", await redis.xrange(dead_letter_stream(stream)))
    assert [
        (decode_event(fields[b"event"]).event_id, fields[b"handler"], fields[b"error"])
        for _, fields in dead
    ] == [(broken, b"jobs", b"ValueError: cannot do this one")]
