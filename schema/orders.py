"""The order status enum and the inputs of the order use cases.

The `Order` and `OrderLine` types, their filter and sort inputs and the `order(id)` and
`orders` root fields are derived from their declaration (`schema.declarations.orders`).
"""

from __future__ import annotations

import enum

import strawberry

from domain import orders as domain_orders
from schema.node import decode_id


@strawberry.enum(description="Where an order is in its life.")
class OrderStatus(enum.Enum):
    PLACED = "placed"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"

    def to_domain(self) -> domain_orders.OrderStatus:
        return domain_orders.OrderStatus(self.value)


@strawberry.input
class OrderLineInput:
    item_id: strawberry.ID
    quantity: int


@strawberry.input
class PlaceOrderInput:
    lines: list[OrderLineInput]

    def to_domain(self) -> list[domain_orders.LineRequest]:
        return [
            domain_orders.LineRequest(
                decode_id(line.item_id, "Item", f"lines.{i}.itemId"), line.quantity
            )
            for i, line in enumerate(self.lines)
        ]
