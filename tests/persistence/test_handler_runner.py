"""Running a handler: one effect per event, retries with exponential backoff, then dead."""

from __future__ import annotations

import re

import pytest

from domain.events import DomainEvent, ItemPriceChanged
from domain.handlers import EventHandlers, Handler
from domain.money import Money
from persistence.event_bus import InProcessEventBus
from persistence.event_dispatch import DeadLetter, InProcessDispatch
from persistence.handler_runner import (
    HandlerRunner,
    MemoryProcessedEvents,
    Outcome,
    Result,
    RetryPolicy,
)


def an_event(n: int = 1) -> ItemPriceChanged:
    return ItemPriceChanged(item_id=n, previous=Money(n), current=Money(n + 1))


class Sleeps:
    """A clock that records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def failing(times: int, effects: list[str]) -> Handler:
    remaining = [times]

    async def handle(event: DomainEvent) -> None:
        if remaining[0] > 0:
            remaining[0] -= 1
            raise ConnectionError("SMTP server away")
        effects.append(event.event_id)

    return Handler("flaky", (ItemPriceChanged,), handle)


async def test_a_repeated_delivery_has_one_effect() -> None:
    effects: list[str] = []
    runner = HandlerRunner(MemoryProcessedEvents())
    handler = failing(0, effects)
    event = an_event()
    assert await runner.run(handler, event) == Result(Outcome.DONE, 1)
    assert await runner.run(handler, event) == Result(Outcome.REPEAT, 0)
    assert effects == [event.event_id]


async def test_a_failing_handler_is_retried_with_exponential_backoff() -> None:
    effects: list[str] = []
    sleeps = Sleeps()
    runner = HandlerRunner(
        MemoryProcessedEvents(), RetryPolicy(attempts=5, base_seconds=0.5), sleep=sleeps
    )
    event = an_event()
    assert await runner.run(failing(3, effects), event) == Result(Outcome.DONE, 4)
    assert sleeps.waits == [0.5, 1.0, 2.0]
    assert effects == [event.event_id]


async def test_a_poison_event_is_given_up_after_the_stated_attempts() -> None:
    sleeps = Sleeps()
    observed: list[tuple[str, str]] = []
    runner = HandlerRunner(
        MemoryProcessedEvents(),
        RetryPolicy(attempts=4, base_seconds=1.0, max_seconds=3.0),
        sleep=sleeps,
        observe=lambda name, outcome, _seconds: observed.append((name, outcome)),
    )
    result = await runner.run(failing(99, []), an_event())
    assert result == Result(Outcome.DEAD, 4, "ConnectionError: SMTP server away")
    assert sleeps.waits == [1.0, 2.0, 3.0]
    assert observed == [("flaky", "failed")] * 4 + [("flaky", "dead")]


async def test_the_embedded_dispatch_feeds_subscribers_then_handlers_in_order() -> None:
    handled: list[int] = []
    handlers = EventHandlers()

    @handlers.on(ItemPriceChanged, name="prices")
    async def prices(event: DomainEvent) -> None:
        assert isinstance(event, ItemPriceChanged)
        if event.item_id == 2:
            raise ValueError("poison")
        handled.append(event.item_id)

    bus = InProcessEventBus()
    dispatch = InProcessDispatch(
        bus,
        handlers,
        HandlerRunner(MemoryProcessedEvents(), RetryPolicy(attempts=2), sleep=Sleeps()),
    )
    events = [an_event(n) for n in (1, 2, 3)]
    with bus.subscribe() as subscription:
        await dispatch.publish(events)
        await dispatch.publish(events[:1])  # the relay again, after a crash
        subscription.close()
        received = [event async for event in subscription]
    assert received == [*events, events[0]]
    assert handled == [1, 3]
    assert list(dispatch.dead_letters) == [DeadLetter("prices", events[1], "ValueError: poison", 2)]


def test_handler_names_are_checked() -> None:
    handlers = EventHandlers()

    async def handle(_event: DomainEvent) -> None:
        return None

    handlers.add("mail-when-shipped", (ItemPriceChanged,), handle)
    for name, message in [
        ("mail-when-shipped", "handler name 'mail-when-shipped' is already registered"),
        ("Mail Me", "handler name 'Mail Me': lower-case letters, digits and dashes"),
    ]:
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            handlers.add(name, (ItemPriceChanged,), handle)
