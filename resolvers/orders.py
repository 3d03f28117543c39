"""Order resolvers: thin calls into the order service and the order loaders."""

from __future__ import annotations

from domain.orders import LineRequest, Order, OrderStatus
from domain.paging import Page, PageRequest
from domain.specifications import Specification
from resolvers.context import Context


async def order(context: Context, order_id: int) -> Order | None:
    return await context.loaders.orders.load(order_id)


async def orders(context: Context, spec: Specification, request: PageRequest) -> Page[Order]:
    return await context.services.orders.page(context.principal, spec, request)


async def count_orders(context: Context, spec: Specification) -> int:
    return await context.services.orders.count(context.principal, spec)


async def customer_orders(
    context: Context, customer_id: int, spec: Specification, request: PageRequest
) -> Page[Order]:
    return await context.loaders.customer_orders.load((customer_id, spec, request))


async def count_customer_orders(context: Context, customer_id: int, spec: Specification) -> int:
    return await context.loaders.customer_order_counts.load((customer_id, spec))


async def place_order(context: Context, lines: list[LineRequest]) -> Order:
    placed = await context.services.orders.place(context.principal, lines)
    for line in lines:
        context.loaders.entity("Item").clear(line.item_id)
    return placed


async def update_order_status(context: Context, order_id: int, status: OrderStatus) -> Order:
    updated = await context.services.orders.change_status(context.principal, order_id, status)
    context.loaders.orders.clear(order_id)
    return updated


async def cancel_order(context: Context, order_id: int) -> Order:
    cancelled = await context.services.orders.cancel(context.principal, order_id)
    context.loaders.orders.clear(order_id)
    for item_id in cancelled.item_quantities:
        context.loaders.entity("Item").clear(item_id)
    return cancelled
