"""The Subscription root: domain events as our schema types, over WebSocket."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable
from contextlib import aclosing
from datetime import datetime

import strawberry
from graphql import GraphQLError

from domain import events as domain_events
from domain import items as domain_items
from domain import orders as domain_orders
from domain.errors import DomainError
from resolvers import subscriptions as realtime
from resolvers.context import Context
from schema import errors as error_table
from schema.items import Item
from schema.money import Money
from schema.node import decode_id
from schema.orders import Order, OrderStatus


@strawberry.type(description="An order moved from one status to another.")
class OrderStatusChange:
    order: Order
    previous: OrderStatus
    current: OrderStatus
    occurred_at: datetime


@strawberry.type(description="An item's price changed.")
class ItemPriceChange:
    item: Item
    previous: Money
    current: Money
    occurred_at: datetime


async def _refusal_as_error[T](opening: Awaitable[T]) -> T:
    # A refusal raised while subscribing becomes the operation's `error` message; the
    # code is set here because the error-mapping extension sees only the final result.
    try:
        return await opening
    except DomainError as exc:
        extensions = {**error_table.error_details(exc), "code": error_table.rule_for(exc).code}
        raise GraphQLError(str(exc), extensions=extensions, original_error=exc) from exc


async def _order_status_changes(
    changes: AsyncGenerator[tuple[domain_events.OrderStatusChanged, domain_orders.Order], None],
) -> AsyncGenerator[OrderStatusChange, None]:
    async with aclosing(changes):
        async for event, order in changes:
            yield OrderStatusChange(
                order=Order.from_domain(order),
                previous=OrderStatus(event.previous),
                current=OrderStatus(event.current),
                occurred_at=event.occurred_at,
            )


async def _placed_orders(
    placed: AsyncGenerator[tuple[domain_events.OrderPlaced, domain_orders.Order], None],
) -> AsyncGenerator[Order, None]:
    async with aclosing(placed):
        async for _event, order in placed:
            yield Order.from_domain(order)


async def _item_price_changes(
    changes: AsyncGenerator[tuple[domain_events.ItemPriceChanged, domain_items.Item], None],
) -> AsyncGenerator[ItemPriceChange, None]:
    async with aclosing(changes):
        async for event, item in changes:
            yield ItemPriceChange(
                item=Item.from_domain(item),
                previous=Money.from_domain(event.previous),
                current=Money.from_domain(event.current),
                occurred_at=event.occurred_at,
            )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Status changes of one order: its customer, or staff (`orders:read`)."
    )
    async def order_status_changed(
        self, info: strawberry.Info[Context, None], order_id: strawberry.ID
    ) -> AsyncGenerator[OrderStatusChange, None]:
        key = await _refusal_as_error(_decoded(order_id, "Order", "orderId"))
        changes = await _refusal_as_error(realtime.order_status_changes(info.context, key))
        return _order_status_changes(changes)

    @strawberry.subscription(description="Every newly placed order (staff: `orders:subscribe`).")
    async def order_placed(
        self, info: strawberry.Info[Context, None]
    ) -> AsyncGenerator[Order, None]:
        placed = await _refusal_as_error(realtime.placed_orders(info.context))
        return _placed_orders(placed)

    @strawberry.subscription(description="Price changes of one item the caller can see.")
    async def item_price_changed(
        self, info: strawberry.Info[Context, None], item_id: strawberry.ID
    ) -> AsyncGenerator[ItemPriceChange, None]:
        key = await _refusal_as_error(_decoded(item_id, "Item", "itemId"))
        changes = await _refusal_as_error(realtime.item_price_changes(info.context, key))
        return _item_price_changes(changes)


async def _decoded(value: str, type_name: str, field: str) -> int:
    return decode_id(value, type_name, field)
