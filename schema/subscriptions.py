"""The Subscription root: domain events as our schema types, over WebSocket.

Every field takes `after`, the id of the last event the client saw (each result
carries its event's id in `extensions.eventId`): the events missed since are sent
first, then live ones (see README, Resuming a subscription).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable
from contextlib import aclosing
from datetime import datetime
from typing import Annotated, cast

import strawberry
from graphql import GraphQLError

from domain import events as domain_events
from domain import items as domain_items
from domain import orders as domain_orders
from domain.errors import DomainError
from resolvers import subscriptions as realtime
from resolvers.context import Context
from schema import errors as error_table
from schema.declarations.items import Item
from schema.declarations.orders import Order
from schema.money import Money
from schema.node import decode_id
from schema.orders import OrderStatus

EVENT_ID_DESCRIPTION = (
    "The event's id: pass it as `after` when subscribing again to receive what came next."
)
AFTER_DESCRIPTION = (
    "Resume after this event id (from `extensions.eventId`): the events missed since "
    "come first; RESUME_WINDOW_EXPIRED if they are no longer kept."
)


@strawberry.type(description="An order moved from one status to another.")
class OrderStatusChange:
    order: Order
    previous: OrderStatus
    current: OrderStatus
    occurred_at: datetime
    event_id: str = strawberry.field(description=EVENT_ID_DESCRIPTION)


@strawberry.type(description="An item's price changed.")
class ItemPriceChange:
    item: Item
    previous: Money
    current: Money
    occurred_at: datetime
    event_id: str = strawberry.field(description=EVENT_ID_DESCRIPTION)


# An assignment, not a `type` statement: Strawberry reads the argument's description here.
After = Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)]


async def _refusal_as_error[T](opening: Awaitable[T]) -> T:
    # A refusal raised while subscribing becomes the operation's `error` message; the
    # code is set here because the error-mapping extension sees only the final result.
    try:
        return await opening
    except DomainError as exc:
        extensions = {**error_table.error_details(exc), "code": error_table.rule_for(exc).code}
        raise GraphQLError(str(exc), extensions=extensions, original_error=exc) from exc


async def _order_status_changes(
    changes: AsyncGenerator[
        realtime.Delivered[domain_events.OrderStatusChanged, domain_orders.Order], None
    ],
) -> AsyncGenerator[OrderStatusChange, None]:
    async with aclosing(changes):
        async for delivered in changes:
            event = delivered.event
            yield OrderStatusChange(
                order=cast(Order, delivered.subject),  # the declared type's root
                previous=OrderStatus(event.previous),
                current=OrderStatus(event.current),
                occurred_at=event.occurred_at,
                event_id=delivered.event_id,
            )


async def _placed_orders(
    placed: AsyncGenerator[
        realtime.Delivered[domain_events.OrderPlaced, domain_orders.Order], None
    ],
) -> AsyncGenerator[Order, None]:
    async with aclosing(placed):
        async for delivered in placed:
            yield cast(Order, delivered.subject)  # the declared type's root


async def _item_price_changes(
    changes: AsyncGenerator[
        realtime.Delivered[domain_events.ItemPriceChanged, domain_items.Item], None
    ],
) -> AsyncGenerator[ItemPriceChange, None]:
    async with aclosing(changes):
        async for delivered in changes:
            event = delivered.event
            yield ItemPriceChange(
                item=cast(Item, delivered.subject),  # the domain item is the declared type's root
                previous=Money.from_domain(event.previous),
                current=Money.from_domain(event.current),
                occurred_at=event.occurred_at,
                event_id=delivered.event_id,
            )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Status changes of one order: its customer, or staff (`orders:read`)."
    )
    async def order_status_changed(
        self, info: strawberry.Info[Context, None], order_id: strawberry.ID, after: After = None
    ) -> AsyncGenerator[OrderStatusChange, None]:
        key = await _refusal_as_error(_decoded(order_id, "Order", "orderId"))
        changes = await _refusal_as_error(realtime.order_status_changes(info.context, key, after))
        return _order_status_changes(changes)

    @strawberry.subscription(description="Every newly placed order (staff: `orders:subscribe`).")
    async def order_placed(
        self, info: strawberry.Info[Context, None], after: After = None
    ) -> AsyncGenerator[Order, None]:
        placed = await _refusal_as_error(realtime.placed_orders(info.context, after))
        return _placed_orders(placed)

    @strawberry.subscription(description="Price changes of one item the caller can see.")
    async def item_price_changed(
        self, info: strawberry.Info[Context, None], item_id: strawberry.ID, after: After = None
    ) -> AsyncGenerator[ItemPriceChange, None]:
        key = await _refusal_as_error(_decoded(item_id, "Item", "itemId"))
        changes = await _refusal_as_error(realtime.item_price_changes(info.context, key, after))
        return _item_price_changes(changes)


async def _decoded(value: str, type_name: str, field: str) -> int:
    return decode_id(value, type_name, field)
