"""Order resolvers: thin calls into the order use cases (reads are the declared `Order`'s)."""

from __future__ import annotations

from domain.orders import LineRequest, Order, OrderStatus
from resolvers.context import Context


async def place_order(context: Context, lines: list[LineRequest]) -> Order:
    placed = await context.services.orders.place(context.principal, lines)
    for line in lines:
        context.loaders.entity("Item").clear(line.item_id)
    return placed


async def update_order_status(context: Context, order_id: int, status: OrderStatus) -> Order:
    updated = await context.services.orders.change_status(context.principal, order_id, status)
    context.loaders.entity("Order").clear(order_id)
    return updated


async def cancel_order(context: Context, order_id: int) -> Order:
    cancelled = await context.services.orders.cancel(context.principal, order_id)
    context.loaders.entity("Order").clear(order_id)
    for item_id in cancelled.item_quantities:
        context.loaders.entity("Item").clear(item_id)
    return cancelled
