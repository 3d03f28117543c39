"""Committed events are published in the background: in order, bounded, never raised."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from domain.events import DomainEvent, OrderStatusChanged
from persistence.after_commit import BackgroundPublisher


def _event(n: int) -> OrderStatusChanged:
    return OrderStatusChanged(order_id=n, customer_id=1, previous="placed", current="paid")


class Gate:
    """A publisher that records batches, each one waiting until the test opens the gate."""

    def __init__(self, *, fail_on: int | None = None) -> None:
        self.open = asyncio.Event()
        self.batches: list[list[int]] = []
        self.fail_on = fail_on

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        await self.open.wait()
        ids = [e.order_id for e in events if isinstance(e, OrderStatusChanged)]
        if ids == [self.fail_on]:
            raise RuntimeError("redis went away")
        self.batches.append(ids)


async def test_publish_returns_while_the_real_publisher_waits_and_keeps_the_order() -> None:
    gate = Gate()
    publisher = BackgroundPublisher(gate, timeout_seconds=30)
    for n in (1, 2, 3):
        await publisher.publish([_event(n)])  # returns although the gate is shut
    assert gate.batches == []
    gate.open.set()
    await publisher.drain(30)
    assert gate.batches == [[1], [2], [3]]
    await publisher.aclose()


async def test_a_batch_that_fails_or_hangs_is_dropped_and_logged_and_the_next_goes_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = Gate(fail_on=2)
    gate.open.set()
    publisher = BackgroundPublisher(gate, timeout_seconds=30)
    with caplog.at_level(logging.ERROR, logger="persistence.after_commit"):
        for n in (1, 2, 3):
            await publisher.publish([_event(n)])
        await publisher.drain(30)
    assert gate.batches == [[1], [3]]
    assert publisher.dropped == 1
    assert [r.getMessage() for r in caplog.records] == ["publishing 1 committed event(s) failed"]

    hanging = Gate()
    slow = BackgroundPublisher(hanging, timeout_seconds=0.05)
    with caplog.at_level(logging.ERROR, logger="persistence.after_commit"):
        await slow.publish([_event(4)])
        await slow.drain(30)  # the worker gives up at its own timeout
    assert (hanging.batches, slow.dropped) == ([], 1)
    assert caplog.records[-1].getMessage() == (
        "publishing 1 committed event(s) took over 0.05s: dropped"
    )
    await publisher.aclose()
    await slow.aclose()


async def test_a_full_backlog_drops_the_new_batch_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = Gate()
    publisher = BackgroundPublisher(gate, timeout_seconds=30, backlog=1)
    await publisher.publish([_event(1)])
    await asyncio.sleep(0)  # the worker takes batch 1 and waits on the gate
    await publisher.publish([_event(2)])  # fills the backlog
    with caplog.at_level(logging.ERROR, logger="persistence.after_commit"):
        await publisher.publish([_event(3)])
    gate.open.set()
    await publisher.drain(30)
    assert (gate.batches, publisher.dropped) == ([[1], [2]], 1)
    assert [r.getMessage() for r in caplog.records] == [
        "event backlog full: dropped 1 committed event(s)"
    ]
    await publisher.aclose()
