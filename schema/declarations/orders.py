"""The `Order` aggregate and its `OrderLine` parts: stored in the hand-written `orders`
and `order_lines` tables.

No generic mutations: an order is placed, moved along its status machine and cancelled
through its use cases (`domain.services.orders.OrderService`: stock reservation, the
compare-and-set transitions), exposed as `placeOrder`, `updateOrderStatus` and
`cancelOrder` (`schema/mutation.py`). Its lines are parts of it (`parts`): loaded and
stored with the order, listed by id, with no id of their own.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import auto

from domain import orders
from domain.expressions import product, sum_of
from domain.money import Money
from domain.paging import Direction, Sort
from domain.services.orders import OrderService
from domain.specifications import Op, Specification, field
from schema.cache_control import CacheScope, cache_control
from schema.entities import as_utc, computed, computed_filter, declared, entity, many_to_one, parts
from schema.node import Node, decode_id
from schema.orders import OrderStatus


def _of_customer(customer: strawberry.ID) -> Specification:
    return field("customer_id") == decode_id(customer, "User", "customerId")


def _created_after(moment: datetime) -> Specification:
    return field("created_at") > as_utc(moment)


def _created_before(moment: datetime) -> Specification:
    return field("created_at") < as_utc(moment)


@cache_control(max_age=30, scope=CacheScope.PRIVATE)
@entity(
    orders.Order,
    table="orders",
    policy=orders.POLICY,
    mutations=(),
    service=OrderService,
    default_order=Sort("id", Direction.DESC),
    description="An order placed by a customer.",
    filters={
        "customer_id": computed_filter(strawberry.ID, _of_customer),
        "created_after": computed_filter(datetime, _created_after),
        "created_before": computed_filter(datetime, _created_before),
    },
    descriptions={"orders": "Orders: staff see all, customers their own."},
)
class Order(Node):
    status: auto = declared(filters={Op.EQ, Op.IN}, orderable=True, enum=OrderStatus)
    lines: auto = parts("OrderLine", "order_id")
    total: Money = computed(sum_of("lines", "subtotal"))
    created_at: auto = declared(orderable=True)
    updated_at: auto = declared()
    customer: auto = many_to_one("customer_id", "User")


@entity(
    orders.OrderLine,
    table="order_lines",
    part_of="Order",
    description="One item of an order, at the price it had when ordered.",
)
class OrderLine:
    quantity: auto = declared()
    unit_price: auto = declared(columns=("unit_price_cents", "currency"))
    subtotal: Money = computed(product("unit_price", "quantity"))
    item: auto = many_to_one(
        "item_id", "Item", description="Null when the item is no longer visible to the caller."
    )
