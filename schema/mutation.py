"""The Mutation root: catalog and order commands."""

from __future__ import annotations

import strawberry

from resolvers import items as item_resolvers
from resolvers import orders as order_resolvers
from resolvers.context import Context
from schema.accounts import AccountMutation
from schema.items import CreateItemInput, Item, UpdateItemInput
from schema.node import decode_id
from schema.orders import Order, OrderStatus, PlaceOrderInput
from schema.payloads import DeletePayload

type Info = strawberry.Info[Context, None]


@strawberry.type
class Mutation(AccountMutation):
    @strawberry.mutation(description="Add a catalog item (staff).")
    async def create_item(self, info: Info, input: CreateItemInput) -> Item:
        created = await item_resolvers.create_item(
            info.context,
            sku=input.sku,
            name=input.name,
            price=input.price.to_domain(),
            description=input.description,
            stock=input.stock,
        )
        return Item.from_domain(created)

    @strawberry.mutation(description="Change a catalog item (staff).")
    async def update_item(
        self,
        info: Info,
        id: strawberry.ID,
        input: UpdateItemInput,
    ) -> Item:
        updated = await item_resolvers.update_item(
            info.context, decode_id(id, "Item"), input.to_changes()
        )
        return Item.from_domain(updated)

    @strawberry.mutation(description="Delete an item no order references (staff).")
    async def delete_item(self, info: Info, id: strawberry.ID) -> DeletePayload:
        await item_resolvers.delete_item(info.context, decode_id(id, "Item"))
        return DeletePayload(deleted_id=id)

    @strawberry.mutation(description="Place an order; stock is reserved atomically.")
    async def place_order(self, info: Info, input: PlaceOrderInput) -> Order:
        placed = await order_resolvers.place_order(info.context, input.to_domain())
        return Order.from_domain(placed)

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
        return Order.from_domain(updated)

    @strawberry.mutation(description="Cancel an order before it ships (owner or staff).")
    async def cancel_order(self, info: Info, id: strawberry.ID) -> Order:
        cancelled = await order_resolvers.cancel_order(info.context, decode_id(id, "Order"))
        return Order.from_domain(cancelled)
