"""Handlers over Redis streams: dead letters, repeats, reclaiming, order with several workers.

Each test has streams of its own on the shared Redis (deleted afterwards).
"""

from __future__ import annotations

import asyncio
from typing import cast

import pytest
from redis.asyncio import Redis

from domain.events import DomainEvent, OrderStatusChanged
from domain.handlers import EventHandlers
from persistence.event_codec import decode_event
from persistence.handler_runner import HandlerRunner, RedisProcessedEvents, RetryPolicy
from persistence.redis_event_bus import RedisEventBus
from persistence.stream_worker import (
    Entry,
    StreamWorker,
    dead_letter_stream,
    partition_stream,
)

PARTITIONS = 6


def change(order_id: int, n: int) -> OrderStatusChanged:
    return OrderStatusChanged(
        order_id=order_id, customer_id=1, previous=f"s{n}", current=f"s{n + 1}"
    )


async def no_wait(_seconds: float) -> None:
    return None


def worker(
    redis: Redis, stream: str, handlers: EventHandlers, *, attempts: int = 3, name: str = "w1"
) -> StreamWorker:
    runner = HandlerRunner(
        RedisProcessedEvents(redis, prefix=f"{stream}:done:", remember_seconds=600),
        RetryPolicy(attempts=attempts, base_seconds=0.01),
        sleep=no_wait,
    )
    return StreamWorker(
        redis, handlers, runner, stream=stream, partitions=PARTITIONS, consumer=name
    )


def bus(redis: Redis, stream: str) -> RedisEventBus:
    return RedisEventBus(redis, stream=stream, handler_partitions=PARTITIONS)


async def pending(redis: Redis, stream: str, group: str) -> int:
    total = 0
    for partition in range(PARTITIONS):
        summary = await redis.xpending(partition_stream(stream, partition), group)
        total += int(summary["pending"])
    return total


async def test_a_poison_event_lands_in_the_dead_letter_stream_after_the_stated_retries(
    redis: Redis, stream: str
) -> None:
    calls: list[str] = []
    handlers = EventHandlers()

    @handlers.on(OrderStatusChanged, name="poisoned")
    async def poisoned(event: DomainEvent) -> None:
        calls.append(event.event_id)
        raise ValueError("cannot handle this one")

    one = worker(redis, stream, handlers, attempts=3)
    await one.prepare()
    await one.refresh_leases()
    event = change(7, 1)
    await bus(redis, stream).publish([event])
    assert await one.step() == 1
    assert calls == [event.event_id] * 3
    dead = cast("list[Entry]", await redis.xrange(dead_letter_stream(stream)))
    assert len(dead) == 1
    fields = dead[0][1]
    assert decode_event(fields[b"event"]) == event
    assert {k: v for k, v in fields.items() if k != b"event" and k != b"source"} == {
        b"handler": b"poisoned",
        b"error": b"ValueError: cannot handle this one",
        b"attempts": b"3",
    }
    assert await pending(redis, stream, "poisoned") == 0


async def test_an_event_published_twice_is_handled_once(redis: Redis, stream: str) -> None:
    effects: list[str] = []
    handlers = EventHandlers()

    @handlers.on(OrderStatusChanged, name="counting")
    async def counting(event: DomainEvent) -> None:
        effects.append(event.event_id)

    one = worker(redis, stream, handlers)
    await one.prepare()
    await one.refresh_leases()
    event = change(1, 1)
    # The relay publishes again when it died between publishing and marking.
    await bus(redis, stream).publish([event])
    await bus(redis, stream).publish([event])
    assert await one.step() == 2
    assert effects == [event.event_id]
    assert await pending(redis, stream, "counting") == 0


class WorkerDiedError(BaseException):
    """Stands for the process dying inside a handler."""


async def test_the_pending_entries_of_a_dead_worker_are_reclaimed_by_another(
    redis: Redis, stream: str
) -> None:
    effects: list[tuple[str, str]] = []
    dying = [True]
    handlers = EventHandlers()

    @handlers.on(OrderStatusChanged, name="effects")
    async def record(event: DomainEvent) -> None:
        if dying[0]:
            raise WorkerDiedError
        effects.append((event.aggregate, event.event_id))

    first = worker(redis, stream, handlers, name="first")
    await first.prepare()
    await first.refresh_leases()
    events = [change(3, n) for n in range(3)]
    await bus(redis, stream).publish(events)
    with pytest.raises(WorkerDiedError):
        await first.step()
    # Read by `first`, never acknowledged: pending. Its leases expire (deleted here
    # rather than waited for) and it stops announcing itself.
    assert await pending(redis, stream, "effects") == 3
    await redis.delete(*[f"{stream}:lease:{p}" for p in range(PARTITIONS)])
    await redis.zrem(f"{stream}:workers", "first")
    dying[0] = False
    second = worker(redis, stream, handlers, name="second")
    await second.refresh_leases()
    assert await second.step() == 3
    assert effects == [("Order:3", e.event_id) for e in events]
    assert await pending(redis, stream, "effects") == 0


async def test_events_of_one_aggregate_are_handled_in_order_by_several_workers(
    redis: Redis, stream: str
) -> None:
    seen: dict[str, list[int]] = {}
    by_worker: dict[str, set[str]] = {}
    handlers = EventHandlers()
    current: dict[str, str] = {}

    @handlers.on(OrderStatusChanged, name="ordered")
    async def ordered(event: DomainEvent) -> None:
        assert isinstance(event, OrderStatusChanged)
        # Yield mid-handling, so workers interleave.
        await asyncio.sleep(0)
        seen.setdefault(event.aggregate, []).append(int(event.previous[1:]))
        by_worker.setdefault(current["worker"], set()).add(event.aggregate)

    workers = [worker(redis, stream, handlers, name=f"w{n}") for n in range(3)]
    for each in workers:
        await each.prepare()
    for _ in range(2):  # the second round settles every worker's fair share
        for each in workers:
            await each.refresh_leases()
    assert sorted(p for w in workers for p in w.owned) == list(range(PARTITIONS))
    assert all(w.owned for w in workers)
    events = [change(order, n) for n in range(10) for order in range(1, 9)]
    await bus(redis, stream).publish(events)

    async def drive(each: StreamWorker) -> None:
        for _ in range(20):
            current["worker"] = each.consumer
            await each.step()
            await asyncio.sleep(0)

    await asyncio.gather(*(drive(each) for each in workers))
    assert seen == {f"Order:{order}": list(range(10)) for order in range(1, 9)}
    assert await pending(redis, stream, "ordered") == 0
