"""One timer for many bounded awaits (gateway.graphql.deadlines): each is cancelled at
its own deadline and sees TimeoutError, as under `asyncio.timeout`."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.graphql.deadlines import Deadlines


async def _sleeps(seconds: float, cancelled: list[float] | None = None) -> str:
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        if cancelled is not None:
            cancelled.append(time.monotonic())
        raise
    return "done"


async def test_an_await_within_its_seconds_gives_its_value() -> None:
    deadlines = Deadlines(1.0)
    assert [await deadlines.bounded(_sleeps(0)) for _ in range(3)] == ["done"] * 3


async def test_an_await_past_its_seconds_is_cancelled_there_and_times_out() -> None:
    deadlines = Deadlines(0.1)
    cancelled: list[float] = []
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await deadlines.bounded(_sleeps(10, cancelled))
    assert len(cancelled) == 1
    # At its deadline, not when the sleep would end (loose above: a busy machine is slow).
    assert 0.1 <= cancelled[0] - started < 5
    # The task is not left cancelling: it goes on awaiting.
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
    assert await deadlines.bounded(_sleeps(0)) == "done"


async def test_each_await_is_bounded_from_its_own_start() -> None:
    # Started 0.15 s apart with one timer: each times out 0.3 s after its own start,
    # and one that finishes in time is left alone.
    deadlines = Deadlines(0.3)
    ended: dict[str, float] = {}

    async def bounded(name: str, seconds: float) -> str:
        started = time.monotonic()
        try:
            return await deadlines.bounded(_sleeps(seconds))
        except TimeoutError:
            ended[name] = time.monotonic() - started
            return "timed out"

    first = asyncio.create_task(bounded("first", 10))
    await asyncio.sleep(0.15)
    second = asyncio.create_task(bounded("second", 10))
    quick = asyncio.create_task(bounded("quick", 0.05))
    assert list(await asyncio.gather(first, second, quick)) == ["timed out", "timed out", "done"]
    # Neither at the other's deadline (0.15 s early for the second) nor at the sleep's end.
    assert 0.3 <= ended["first"] < 5
    assert 0.3 <= ended["second"] < 5


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    deadlines = Deadlines(10)
    task = asyncio.create_task(deadlines.bounded(_sleeps(10)))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_the_deadlines_work_in_each_new_event_loop() -> None:
    # One instance per process, used by the loop that runs the app (a new one per test).
    # The first loop ends with the timer still set in it.
    deadlines = Deadlines(0.1)
    assert asyncio.run(deadlines.bounded(_sleeps(0))) == "done"
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        asyncio.run(asyncio.wait_for(deadlines.bounded(_sleeps(60)), 30))
    assert time.monotonic() - started < 10  # the deadline's, not wait_for's


async def test_an_await_that_swallows_its_cancellation_leaves_the_task_uncancelled() -> None:
    # As under `asyncio.timeout`: the cancellation the deadline asked for is taken back
    # even when the awaited code returns instead of raising it.
    deadlines = Deadlines(0.05)

    async def stubborn() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "kept going"
        return "done"

    assert await deadlines.bounded(stubborn()) == "kept going"
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
