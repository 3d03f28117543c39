"""The in-process event bus: filtered fan-out, bounded queues, never failing a publisher."""

from __future__ import annotations

import asyncio

import pytest

from domain.errors import ResumeExpiredError, ValidationError
from domain.events import DomainEvent, ItemPriceChanged, OrderPlaced, OrderStatusChanged
from domain.money import Money
from persistence.event_bus import InProcessEventBus, Subscription


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


async def received(subscription: Subscription, count: int) -> list[tuple[DomainEvent, str]]:
    """The next `count` events with the position each was delivered at."""
    found = []
    for _ in range(count):
        event = await asyncio.wait_for(anext(subscription), 1)
        assert subscription.position is not None
        found.append((event, subscription.position))
    return found


async def test_resuming_replays_the_missed_events_of_its_types_then_live_ones() -> None:
    bus = InProcessEventBus(resume_window=4)
    with bus.subscribe([OrderPlaced]) as first:
        await bus.publish([placed(1)])
        [(_, seen)] = await received(first, 1)
    missed: list[DomainEvent] = [placed(2), changed(2), placed(3), changed(3)]
    await bus.publish(missed)
    live = placed(4)
    with await bus.resume([OrderPlaced], seen) as resumed:
        await bus.publish([live])
        events = await received(resumed, 3)
    assert [event for event, _ in events] == [missed[0], missed[2], live]
    assert len({seen, *(position for _, position in events)}) == 4


async def test_an_id_past_the_window_or_of_another_bus_is_refused() -> None:
    bus, other = InProcessEventBus(resume_window=2), InProcessEventBus(resume_window=2)
    with bus.subscribe() as first, other.subscribe() as elsewhere:
        await bus.publish([placed(1)])
        await other.publish([placed(1)])
        [(_, seen)] = await received(first, 1)
        [(_, foreign)] = await received(elsewhere, 1)
    placed2, placed3 = placed(2), placed(3)
    await bus.publish([placed2, placed3])
    # Two missed, two kept: still resumable.
    with await bus.resume([], seen) as resumed:
        assert [event for event, _ in await received(resumed, 2)] == [placed2, placed3]
    await bus.publish([placed(4)])
    refusals = []
    for position in (seen, foreign, seen.replace(".1", ".99")):
        with pytest.raises(ResumeExpiredError) as refused:
            await bus.resume([], position)
        refusals.append((refused.value.position, refused.value.window))
    assert refusals == [(seen, 2), (foreign, 2), (seen.replace(".1", ".99"), 2)]
    with pytest.raises(ValidationError) as malformed:
        await bus.resume([], "1-0")
    assert [(p.field, p.message) for p in malformed.value.problems] == [
        ("after", "'1-0' is not an event id")
    ]
    assert bus.subscriber_count == 0
