"""The Mutation root: account and order commands (the catalog's are derived)."""

from __future__ import annotations

from typing import cast

import strawberry

from domain import orders as domain_orders
from resolvers import orders as order_resolvers
from resolvers.context import Context
from schema.accounts import AccountMutation
from schema.declarations.orders import Order
from schema.node import decode_id
from schema.orders import OrderStatus, PlaceOrderInput

type Info = strawberry.Info[Context, None]


@strawberry.type
class Mutation(AccountMutation):
    @strawberry.mutation(description="Place an order; stock is reserved atomically.")
    async def place_order(self, info: Info, input: PlaceOrderInput) -> Order:
        return _exposed(await order_resolvers.place_order(info.context, input.to_domain()))

    @strawberry.mutation(description="Move an order along its life (staff).")
    async def update_order_status(
        self,
        info: Info,
        id: strawberry.ID,
        status: OrderStatus,
    ) -> Order:
        updated = await order_resolvers.update_order_status(
            info.context, decode_id(id, "Order"), status.to_domain()
        )
        return _exposed(updated)

    @strawberry.mutation(description="Cancel an order before it ships (owner or staff).")
    async def cancel_order(self, info: Info, id: strawberry.ID) -> Order:
        cancelled = await order_resolvers.cancel_order(info.context, decode_id(id, "Order"))
        return _exposed(cancelled)


def _exposed(order: domain_orders.Order) -> Order:
    return cast(Order, order)  # the domain order is the declared type's root
