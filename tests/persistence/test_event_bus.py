"""The in-process event bus: filtered fan-out, bounded queues, never failing a publisher."""

from __future__ import annotations

import asyncio

import pytest

from domain.events import DomainEvent, ItemPriceChanged, OrderPlaced, OrderStatusChanged
from domain.money import Money
from persistence.event_bus import InProcessEventBus


def placed(order_id: int) -> OrderPlaced:
    return OrderPlaced(order_id=order_id, customer_id=1, total=Money(100))


def changed(order_id: int) -> OrderStatusChanged:
    return OrderStatusChanged(order_id=order_id, customer_id=1, previous="placed", current="paid")


async def test_subscribers_receive_the_event_types_they_asked_for() -> None:
    bus = InProcessEventBus()
    with bus.subscribe([OrderPlaced]) as only_placed, bus.subscribe() as everything:
        events: list[DomainEvent] = [placed(1), changed(1), placed(2)]
        await bus.publish(events)
    assert [e async for e in only_placed] == [events[0], events[2]]
    assert [e async for e in everything] == events


async def test_a_waiting_subscriber_wakes_for_an_event_and_for_close() -> None:
    bus = InProcessEventBus()
    subscription = bus.subscribe([ItemPriceChanged])
    event = ItemPriceChanged(item_id=1, previous=Money(1), current=Money(2))

    async def consume() -> list[DomainEvent]:
        return [e async for e in subscription]

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0)
    await bus.publish([event])
    await asyncio.sleep(0)
    subscription.close()
    received = await asyncio.wait_for(consumer, timeout=2)
    assert (received, subscription.dropped, bus.subscriber_count) == ([event], False, 0)


async def test_a_subscriber_whose_queue_is_full_is_dropped_and_others_still_receive() -> None:
    bus = InProcessEventBus(queue_size=2)
    slow = bus.subscribe()
    fast = bus.subscribe()
    events = [placed(n) for n in range(3)]
    received: list[DomainEvent] = []
    for event in events:
        await bus.publish([event])
        received.append(await anext(fast))
    fast.close()
    assert [e async for e in slow] == []
    assert (slow.dropped, fast.dropped, bus.subscriber_count) == (True, False, 0)
    assert received == events


async def test_publishing_survives_a_broken_subscriber(monkeypatch: pytest.MonkeyPatch) -> None:
    bus = InProcessEventBus()
    broken = bus.subscribe()

    def explode(_event: DomainEvent) -> bool:
        raise RuntimeError("subscriber bug")

    monkeypatch.setattr(broken, "wants", explode)  # simulates a faulty subscriber
    healthy = bus.subscribe()
    event = placed(7)
    await bus.publish([event])
    healthy.close()
    assert ([e async for e in healthy], bus.subscriber_count) == ([event], 0)
