"""The transactional outbox and its relay, on SQLite and Postgres.

Events are stored in the transaction of their change and published by the relay in
outbox order, at least once: a relay that dies before marking a batch leaves it for
the next one, and published rows go after the retention period.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.events import DomainEvent, EntityUpdated, ItemPriceChanged, OrderPlaced
from domain.money import Money
from domain.orders import LineRequest
from domain.principals import Principal
from domain.users import Role
from persistence import outbox, tables
from persistence.outbox_relay import OutboxRelay
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.orders import order_service, unit_of_work_factory
from tests.persistence.builders import Recorder, a_user, an_item, store_items, store_users


class RelayCrashedError(BaseException):
    """Stands for the process dying at a fault point (nothing after it runs)."""


def crash_at(point: str) -> object:
    def hook(reached: str) -> None:
        if reached == point:
            raise RelayCrashedError(point)

    return hook


def price_change(item_id: int, cents: int) -> ItemPriceChanged:
    return ItemPriceChanged(item_id=item_id, previous=Money(cents - 1), current=Money(cents))


async def commit_events(uow_factory: SqlUnitOfWorkFactory, *events: DomainEvent) -> None:
    async with uow_factory() as uow:
        for event in events:
            uow.record(event)
        await uow.commit()


async def stored(engine: AsyncEngine) -> list[tuple[str, str, bool]]:
    """(event id, aggregate, published?) of every outbox row, in id order."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(
                tables.OUTBOX.c.event_id,
                tables.OUTBOX.c.aggregate,
                tables.OUTBOX.c.published_at.is_not(None),
            ).order_by(tables.OUTBOX.c.id)
        )
        return [(str(a), str(b), bool(c)) for a, b, c in rows.all()]


async def test_events_are_stored_with_the_change_that_recorded_them(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    (customer,) = await store_users(uow_factory, [a_user()])
    (item,) = await store_items(uow_factory, [an_item(price=Money(100))])
    service = order_service(uow_factory, Recorder())
    order = await service.place(
        Principal(customer.id, frozenset({Role.CUSTOMER})), [LineRequest(item.id, 2)]
    )
    async with engine.connect() as conn:
        pending, stock = await outbox.pending(conn, 10)
    assert pending.event is not None
    assert pending.event == OrderPlaced(
        order_id=order.id,
        customer_id=customer.id,
        total=Money(200),
        occurred_at=pending.event.occurred_at,
        event_id=pending.event_id,
    )
    # The item's stock changed with it (what the response cache evicts).
    assert stock.event is not None
    assert stock.event == EntityUpdated(
        entity="Item", key=item.id, occurred_at=stock.event.occurred_at, event_id=stock.event_id
    )
    assert await stored(engine) == [
        (pending.event_id, f"Order:{order.id}", False),
        (stock.event_id, f"Item:{item.id}", False),
    ]


async def test_a_rolled_back_change_stores_no_event(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    async with uow_factory() as uow:
        uow.record(price_change(1, 100))
        await uow.rollback()

    async def fail_before_commit() -> None:
        async with uow_factory() as uow:
            uow.record(price_change(1, 200))
            raise RuntimeError("the change fails before its commit")

    with pytest.raises(RuntimeError):
        await fail_before_commit()
    assert await stored(engine) == []


async def test_the_relay_publishes_in_outbox_order_once(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    events = [price_change(n % 3, 100 + n) for n in range(7)]
    for event in events:
        await commit_events(uow_factory, event)
    sink = Recorder()
    relay = OutboxRelay(engine, sink, batch_size=3)
    assert await relay.drain() == 7
    assert await relay.drain() == 0
    assert sink.events == events
    assert await stored(engine) == [(e.event_id, e.aggregate, True) for e in events]


@pytest.mark.parametrize("point", ["before_publish", "after_publish"])
async def test_events_of_a_relay_that_died_go_out_with_the_next_one(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine, point: str
) -> None:
    event = price_change(7, 700)
    await commit_events(uow_factory, event)
    first = Recorder()
    dying = OutboxRelay(engine, first, fault=crash_at(point))  # type: ignore[arg-type]  # a FaultHook
    with pytest.raises(RelayCrashedError):
        await dying.relay_once()
    # Died before the sink took the batch, or after it (then delivered twice, same id).
    assert first.events == ([] if point == "before_publish" else [event])
    assert await stored(engine) == [(event.event_id, "Item:7", False)]
    second = Recorder()
    assert await OutboxRelay(engine, second).drain() == 1
    assert second.events == [event]
    assert await stored(engine) == [(event.event_id, "Item:7", True)]


async def test_a_sink_failure_keeps_the_batch_for_the_next_attempt(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    class Failing:
        async def publish(self, events: Sequence[DomainEvent]) -> None:
            raise ConnectionError("Redis is away")

    event = price_change(1, 100)
    await commit_events(uow_factory, event)
    with pytest.raises(ConnectionError):
        await OutboxRelay(engine, Failing()).relay_once()
    sink = Recorder()
    await OutboxRelay(engine, sink).drain()
    assert sink.events == [event]


async def test_an_unreadable_row_is_passed_over_not_blocking_the_rest(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            tables.OUTBOX.insert(),
            [
                {
                    "event_id": "broken",
                    "event_type": "Gone",
                    "aggregate": "",
                    "payload": '{"type": "Gone", "fields": {}}',
                    "occurred_at": datetime.now(UTC),
                }
            ],
        )
    event = price_change(1, 100)
    await commit_events(uow_factory, event)
    sink = Recorder()
    assert await OutboxRelay(engine, sink).drain() == 2
    assert sink.events == [event]


async def test_published_events_are_purged_after_the_retention_period(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    clock = [now]
    relay = OutboxRelay(engine, Recorder(), retention=timedelta(hours=24), clock=lambda: clock[0])
    old, recent, unpublished = price_change(1, 1), price_change(2, 2), price_change(3, 3)
    await commit_events(uow_factory, old)
    await relay.drain()
    clock[0] = now + timedelta(hours=20)
    await commit_events(uow_factory, recent)
    await relay.drain()
    await commit_events(uow_factory, unpublished)
    clock[0] = now + timedelta(hours=25)
    assert await relay.purge() == 1
    assert await stored(engine) == [
        (recent.event_id, "Item:2", True),
        (unpublished.event_id, "Item:3", False),
    ]


async def test_a_commit_wakes_the_running_relay(engine: AsyncEngine) -> None:
    arrived = asyncio.Event()

    class Signalling(Recorder):
        async def publish(self, events: Sequence[DomainEvent]) -> None:
            await super().publish(events)
            arrived.set()

    sink = Signalling()
    # Polls only once an hour: the event arriving shows the commit woke it.
    relay = OutboxRelay(engine, sink, poll_seconds=3600)
    uow_factory = unit_of_work_factory(engine, on_events_committed=relay.wake)
    event = price_change(1, 100)
    try:
        await commit_events(uow_factory, event)
        async with asyncio.timeout(10):
            await arrived.wait()
    finally:
        await relay.aclose()
    assert sink.events == [event]


async def test_closing_cancels_a_publish_that_hangs_past_the_close_timeout(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    entered = asyncio.Event()

    class Hanging(Recorder):
        async def publish(self, events: Sequence[DomainEvent]) -> None:
            entered.set()
            await asyncio.Event().wait()

    # The publish timeout is an hour: only the close's own timeout can end the batch.
    relay = OutboxRelay(engine, Hanging(), publish_timeout_seconds=3600)
    event = price_change(1, 100)
    await commit_events(uow_factory, event)
    relay.wake()
    async with asyncio.timeout(10):
        await entered.wait()
        await relay.aclose(timeout_seconds=0.1)
    # Not marked: the next start publishes it.
    assert await stored(engine) == [(event.event_id, "Item:1", False)]


async def test_concurrent_relays_publish_each_event_once_in_order(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    events = [price_change(n % 4, 100 + n) for n in range(40)]
    for event in events:
        await commit_events(uow_factory, event)
    sink = Recorder()
    relays = [OutboxRelay(engine, sink, batch_size=5) for _ in range(4)]

    async def run(relay: OutboxRelay) -> None:
        for _ in range(40):
            await relay.relay_once()

    await asyncio.gather(*(run(relay) for relay in relays))
    # One relay at a time holds the outbox, so the sink saw every event once, in order.
    assert sink.events == events
