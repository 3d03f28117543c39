"""The pool's free connections go to whoever has waited longest."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy.util.concurrency import greenlet_spawn
from sqlalchemy.util.queue import Empty

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
