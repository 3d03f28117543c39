"""One-off and delayed jobs on the embedded default's dispatch, on SQLite and Postgres.

A job requested with a change is stored with it (none after a rollback), published by
the relay once due, and run by the `jobs` handler with its retries and dead letters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.events import DomainEvent, ItemPriceChanged
from domain.handlers import EventHandlers
from domain.jobs import JobQueue, JobRequested, Jobs
from domain.money import Money
from persistence.event_dispatch import DeadLetter, InProcessDispatch
from persistence.handler_runner import HandlerRunner, MemoryProcessedEvents, RetryPolicy
from persistence.outbox_relay import OutboxRelay
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.persistence.jobs_support import Clock, Work

ATTEMPTS = 3


async def no_wait(_seconds: float) -> None:
    return None


class Recorder:
    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        self.events.extend(events)


def dispatching(
    engine: AsyncEngine, jobs: Jobs, clock: Clock
) -> tuple[OutboxRelay, Recorder, InProcessDispatch]:
    handlers = EventHandlers()
    jobs.register(handlers)
    runner = HandlerRunner(
        MemoryProcessedEvents(), RetryPolicy(attempts=ATTEMPTS, base_seconds=0), sleep=no_wait
    )
    published = Recorder()
    dispatch = InProcessDispatch(published, handlers, runner)
    return OutboxRelay(engine, dispatch, clock=clock), published, dispatch


async def test_a_job_runs_once_after_its_commit_and_never_after_a_rollback(
    engine: AsyncEngine, uow_factory: SqlUnitOfWorkFactory
) -> None:
    clock, work = Clock(), Work()
    jobs = work.jobs(clock)
    relay, _, _ = dispatching(engine, jobs, clock)
    async with uow_factory() as unit:
        unit.record(jobs.request("note", {"n": 1}))  # the change failed: no commit
    await JobQueue(uow_factory, jobs).enqueue("note", {"n": 2, "to": ["a@example.com"]})
    assert (await relay.drain(), await relay.drain()) == (1, 0)
    assert work.runs == [("note", {"n": 2, "to": ["a@example.com"]})]


async def test_a_delayed_job_waits_until_due_and_holds_back_no_other_event(
    engine: AsyncEngine, uow_factory: SqlUnitOfWorkFactory
) -> None:
    clock, work = Clock(), Work()
    jobs = work.jobs(clock)
    relay, published, _ = dispatching(engine, jobs, clock)
    later = jobs.request("note", {"n": 1}, delay=timedelta(minutes=10))
    price = ItemPriceChanged(item_id=1, previous=Money(100), current=Money(120))
    async with uow_factory() as unit:
        unit.record(later)
        unit.record(price)
        await unit.commit()
    assert (await relay.drain(), published.events, work.runs) == (1, [price], [])
    clock.now += timedelta(minutes=9, seconds=59)
    assert (await relay.drain(), work.runs) == (0, [])
    clock.now += timedelta(seconds=1)
    assert (await relay.drain(), work.runs) == (1, [("note", {"n": 1})])
    assert published.events == [price, later]


async def test_a_job_at_a_given_time_and_the_requests_refused_up_front() -> None:
    clock = Clock()
    jobs = Work().jobs(clock)
    at = clock.now + timedelta(hours=1)
    assert jobs.request("note", at=at).not_before == at
    refusals = []
    calls: list[Callable[[], object]] = [
        lambda: jobs.request("nope"),
        lambda: jobs.request("note", {"when": clock.now}),  # type: ignore[dict-item]  # not JSON
        lambda: jobs.request("note", {"t": (1, 2)}),  # type: ignore[dict-item]  # not kept as such
        lambda: jobs.request("note", delay=timedelta(1), at=at),
        lambda: jobs.request("note", at=at.replace(tzinfo=None)),
    ]
    for call in calls:
        with pytest.raises((LookupError, ValueError)) as refused:
            call()
        refusals.append(str(refused.value))
    assert refusals == [
        "no job named 'nope'",
        "job 'note': arguments must be JSON values: "
        "Object of type datetime is not JSON serializable",
        "job 'note': arguments must be JSON values: "
        "arguments change when stored as JSON (use lists, str keys)",
        "give a delay or a time, not both",
        "`at` must be an aware datetime",
    ]


async def test_a_failing_job_is_retried_and_one_that_keeps_failing_is_dead_lettered(
    engine: AsyncEngine, uow_factory: SqlUnitOfWorkFactory
) -> None:
    clock, work = Clock(), Work()
    jobs = work.jobs(clock, failures=ATTEMPTS - 1)
    relay, _, dispatch = dispatching(engine, jobs, clock)
    queue = JobQueue(uow_factory, jobs)
    await queue.enqueue("flaky", {"k": "v"})
    broken = await queue.enqueue("broken")
    assert await relay.drain() == 2
    assert work.runs == [("flaky", {"k": "v"})] * ATTEMPTS + [("broken", {})] * ATTEMPTS
    [dead] = dispatch.dead_letters
    assert isinstance(dead.event, JobRequested)
    assert dead == DeadLetter("jobs", dead.event, "ValueError: cannot do this one", ATTEMPTS)
    assert (dead.event.event_id, dead.event.job) == (broken, "broken")
