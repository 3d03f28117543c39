"""Subscription resolvers: domain events filtered by the subscriber's permissions.

Every check is made twice: when the client subscribes (a refusal is an `error`
message) and again for each event at delivery, with the connection's principal, so
a subscriber that may no longer see something receives nothing about it.

`get_context` runs once per WebSocket connection, so loaders built there would cache
for the whole connection and serve stale data; each event therefore gets a fresh set
of loaders (built after the event arrived, so nothing cached predates it).

Each event is delivered with its id (its position in the event stream). A subscription
opened with `after` (the id of the last event the client saw) is first given the events
it missed, filtered by the same checks as live ones, then the live ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from domain.errors import NotFoundError
from domain.events import DomainEvent, ItemPriceChanged, OrderPlaced, OrderStatusChanged
from domain.items import Item
from domain.orders import Order
from domain.principals import Principal
from domain.visibility import visible_items, visible_orders
from resolvers.context import Context, Services
from resolvers.realtime import EventStream, Realtime

# The id of the event a subscription's current result is about: set where the event is
# delivered, read by the schema extension that puts it in the result's extensions. A
# context variable, because each operation streams in its own task.
delivered_event_id: ContextVar[str | None] = ContextVar("delivered_event_id", default=None)


@dataclass(frozen=True, slots=True)
class Delivered[E: DomainEvent, T]:
    """An event a subscriber may see, what it is about, and its id (to resume after)."""

    event: E
    subject: T
    event_id: str


class EventSnapshots:
    """What each event is about, loaded once per process however many subscribers it has.

    Loaded after the event arrived (never stale) without a caller's filter; each
    subscriber then applies its own visibility rule. Without this, N subscribers meant
    N queries per event, and a thousand of them exhausted the connection pool.
    """

    def __init__(self, services: Services, *, size: int = 256) -> None:
        self._services, self._size = services, size
        # Keyed by the event's identity; the event is kept so its id cannot be reused.
        self._loads: dict[int, tuple[DomainEvent, asyncio.Task[object]]] = {}

    async def _load(self, event: DomainEvent, load: Callable[[], Awaitable[object]]) -> object:
        entry = self._loads.get(id(event))
        if entry is None:
            entry = (event, asyncio.create_task(_call(load), name="event-snapshot"))
            self._loads[id(event)] = entry
            while len(self._loads) > self._size:
                del self._loads[next(iter(self._loads))]
        # Shielded: one subscriber leaving must not cancel the load for the others.
        return await asyncio.shield(entry[1])

    async def order(self, event: OrderPlaced | OrderStatusChanged) -> Order | None:
        async def load() -> Order | None:
            found = await self._services.orders.get_many(Principal.system(), [event.order_id])
            return found.get(event.order_id)

        order = await self._load(event, load)
        return order if isinstance(order, Order) else None

    async def item(self, event: ItemPriceChanged) -> Item | None:
        async def load() -> Item | None:
            found = await self._services.items.get_many(Principal.system(), [event.item_id])
            return found.get(event.item_id)

        item = await self._load(event, load)
        return item if isinstance(item, Item) else None


async def _call(load: Callable[[], Awaitable[object]]) -> object:
    return await load()


def realtime_of(context: Context) -> Realtime:
    """The connection's realtime handle; raises RuntimeError outside a WebSocket."""
    realtime = context.realtime
    if realtime is None:
        raise RuntimeError("subscriptions are served over WebSocket only")
    return realtime


@asynccontextmanager
async def _closed_on_error(stream: EventStream) -> AsyncIterator[None]:
    # Also on cancellation: a client may `complete` while the check is still running.
    try:
        yield
    except BaseException:
        stream.close()
        raise


async def _open(
    context: Context, event_type: type[DomainEvent], after: str | None = None
) -> tuple[Realtime, EventStream]:
    realtime = realtime_of(context)
    if after is not None:
        stream = await realtime.events.resume((event_type,), after, queue_size=realtime.queue_size)
        realtime.session.track(stream)
        return realtime, stream
    stream = realtime.events.subscribe((event_type,), queue_size=realtime.queue_size)
    # Closed with the connection too, should the generator below never be started.
    realtime.session.track(stream)
    async with _closed_on_error(stream):
        await realtime.events.ready()
    return realtime, stream


async def _deliver[E: DomainEvent, T](
    context: Context,
    realtime: Realtime,
    stream: EventStream,
    event_type: type[E],
    resolve: Callable[[E], Awaitable[T | None]],
) -> AsyncGenerator[Delivered[E, T], None]:
    try:
        async for event in stream:
            if not realtime.session.permits_delivery():
                break
            if not isinstance(event, event_type):
                continue
            # Subscriptions of one connection share its context; a loader set replaced
            # while another event resolves is just as fresh for that one, never older.
            context.loaders = realtime.new_loaders(context.principal)
            found = await resolve(event)
            if found is not None:
                event_id = stream.position or ""
                delivered_event_id.set(event_id)
                yield Delivered(event, found, event_id)
                # A result not made from an event (an error) must not name the last one.
                delivered_event_id.set(None)
        if stream.dropped:
            realtime.session.drop_slow_consumer()
        # Returning would send `complete`; the connection is closing instead.
        await realtime.session.wait_closed()
    finally:
        stream.close()


def _visible_order(context: Context, order: Order | None) -> Order | None:
    # The rule the order service applies to every read, here per subscriber.
    if order is None or not visible_orders(context.principal).is_satisfied_by(order):
        return None
    context.loaders.entity("Order").prime(order.id, order)
    return order


async def order_status_changes(
    context: Context, order_id: int, after: str | None = None
) -> AsyncGenerator[Delivered[OrderStatusChanged, Order], None]:
    """Status changes of one order the caller may read (those after event `after` first);
    raises NotFoundError, ValidationError or ResumeExpiredError."""
    # Subscribe before checking, so no event between the check and the subscription is lost.
    realtime, stream = await _open(context, OrderStatusChanged, after)
    async with _closed_on_error(stream):
        if order_id not in await context.services.orders.get_many(context.principal, [order_id]):
            raise NotFoundError("Order", order_id)

    async def resolve(event: OrderStatusChanged) -> Order | None:
        if event.order_id != order_id:
            return None
        return _visible_order(context, await realtime.snapshots.order(event))

    return _deliver(context, realtime, stream, OrderStatusChanged, resolve)


async def placed_orders(
    context: Context, after: str | None = None
) -> AsyncGenerator[Delivered[OrderPlaced, Order], None]:
    """Every new order (`orders:subscribe`; those after event `after` first); raises
    UnauthenticatedError, ForbiddenError, ValidationError or ResumeExpiredError."""
    context.principal.require("orders:subscribe")
    realtime, stream = await _open(context, OrderPlaced, after)

    async def resolve(event: OrderPlaced) -> Order | None:
        if not context.principal.can("orders:subscribe"):
            return None
        return _visible_order(context, await realtime.snapshots.order(event))

    return _deliver(context, realtime, stream, OrderPlaced, resolve)


async def item_price_changes(
    context: Context, item_id: int, after: str | None = None
) -> AsyncGenerator[Delivered[ItemPriceChanged, Item], None]:
    """Price changes of one item the caller may see (those after event `after` first);
    raises NotFoundError, ValidationError or ResumeExpiredError."""
    realtime, stream = await _open(context, ItemPriceChanged, after)
    async with _closed_on_error(stream):
        if item_id not in await context.services.items.get_many(context.principal, [item_id]):
            raise NotFoundError("Item", item_id)

    async def resolve(event: ItemPriceChanged) -> Item | None:
        if event.item_id != item_id:
            return None
        item = await realtime.snapshots.item(event)
        if item is None or not visible_items(context.principal).is_satisfied_by(item):
            return None
        context.loaders.entity("Item").prime(item.id, item)
        return item

    return _deliver(context, realtime, stream, ItemPriceChanged, resolve)
