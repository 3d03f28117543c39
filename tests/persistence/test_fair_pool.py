"""The pool's free connections go to whoever has waited longest."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy.util.concurrency import greenlet_spawn
from sqlalchemy.util.queue import Empty, Full

from persistence.fair_pool import FairQueue


async def test_a_returned_connection_goes_to_the_waiter_not_back_to_its_caller() -> None:
    queue: Any = FairQueue(maxsize=2)  # strings stand for connections
    served: list[str] = []

    async def wait_for_one() -> None:
        item: Any = await greenlet_spawn(queue.get, True, None)
        served.append(f"waiter:{item}")

    def give_back_and_ask_again() -> Any:
        # What a busy caller does: return its connection and ask for one at once.
        queue.put_nowait("first")
        return queue.get(True, None)

    waiter = asyncio.create_task(wait_for_one())
    await asyncio.sleep(0)  # the waiter is now waiting for a connection
    again = asyncio.create_task(greenlet_spawn(give_back_and_ask_again))
    await asyncio.sleep(0)
    await greenlet_spawn(queue.put_nowait, "second")
    served.append(f"caller:{await again}")
    await waiter
    assert sorted(served) == ["caller:second", "waiter:first"]


async def test_a_wait_past_its_timeout_is_empty_and_takes_nothing() -> None:
    queue: Any = FairQueue(maxsize=1)  # strings stand for connections
    with pytest.raises(Empty):
        await greenlet_spawn(queue.get, True, 0.01)
    await greenlet_spawn(queue.put_nowait, "conn")
    taken: Any = await greenlet_spawn(queue.get, True, 0.01)
    assert taken == "conn"


async def test_the_next_free_connection_is_none_while_a_waiter_is_first_in_line() -> None:
    queue: Any = FairQueue(maxsize=2)  # strings stand for connections
    waiter = asyncio.create_task(greenlet_spawn(queue.get, True, None))
    await asyncio.sleep(0)  # the waiter is now waiting for a connection
    queue.put_nowait("first")  # promised to the waiter, though not yet taken
    ahead = queue.next_free()
    assert (ahead, await waiter, queue.next_free()) == (None, "first", None)


async def test_connections_come_back_out_in_the_order_given_and_next_free_names_the_next() -> None:
    queue: Any = FairQueue(maxsize=2)  # strings stand for connections
    queue.put_nowait("first")
    queue.put_nowait("second")
    # Without a greenlet: a free connection is taken without waiting on anything.
    taken = [queue.next_free(), queue.get(True, None), queue.next_free(), queue.get(True, None)]
    assert (taken, queue.next_free(), queue.qsize()) == (
        ["first", "first", "second", "second"],
        None,
        0,
    )


def test_a_last_in_first_out_queue_hands_out_the_connection_returned_last() -> None:
    queue: Any = FairQueue(maxsize=3, use_lifo=True)  # strings stand for connections
    for name in ("first", "second", "third"):
        queue.put_nowait(name)
    taken = [queue.next_free(), queue.get(True, None)]
    queue.put_nowait("third")
    assert (taken, queue.get(True, None), queue.get(True, None)) == (
        ["third", "third"],
        "third",
        "second",
    )


def test_a_connection_past_the_queues_size_is_refused() -> None:
    # The pool closes an overflow connection on this refusal instead of keeping it.
    queue: Any = FairQueue(maxsize=1)  # strings stand for connections
    queue.put_nowait("pooled")
    with pytest.raises(Full):
        queue.put("overflow", False)
    assert (queue.qsize(), queue.full()) == (1, True)
