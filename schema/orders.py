"""Order types, their filter and sort inputs, and the order mutation inputs."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

import strawberry

from domain import orders as domain_orders
from domain.specifications import Specification, all_of, field
from resolvers import entities as entity_resolvers
from resolvers.context import Context
from schema.cache_control import CacheScope, cache_control
from schema.declarations.items import Item
from schema.declarations.users import User
from schema.money import Money
from schema.node import Node, decode_id, to_global_id
from schema.pagination import OrderDirection


@strawberry.enum(description="Where an order is in its life.")
class OrderStatus(enum.Enum):
    PLACED = "placed"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"

    def to_domain(self) -> domain_orders.OrderStatus:
        return domain_orders.OrderStatus(self.value)


@strawberry.type(description="One item of an order, at the price it had when ordered.")
class OrderLine:
    quantity: int
    unit_price: Money
    subtotal: Money
    item_pk: strawberry.Private[int]

    @strawberry.field(description="Null when the item is no longer visible to the caller.")
    async def item(self, info: strawberry.Info[Context, None]) -> Item | None:
        found: Item | None = await entity_resolvers.one(info.context, "Item", self.item_pk)
        return found


@cache_control(max_age=30, scope=CacheScope.PRIVATE)
@strawberry.type(description="An order placed by a customer.")
class Order(Node):
    status: OrderStatus
    lines: list[OrderLine]
    total: Money
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[int]
    customer_pk: strawberry.Private[int]

    @classmethod
    def from_domain(cls, order: domain_orders.Order) -> Order:
        return cls(
            id=to_global_id("Order", order.id),
            pk=order.id,
            customer_pk=order.customer_id,
            status=OrderStatus(order.status.value),
            lines=[
                OrderLine(
                    quantity=line.quantity,
                    unit_price=Money.from_domain(line.unit_price),
                    subtotal=Money.from_domain(line.subtotal),
                    item_pk=line.item_id,
                )
                for line in order.lines
            ],
            total=Money.from_domain(order.total),
            created_at=order.created_at,
            updated_at=order.updated_at,
        )

    @strawberry.field
    async def customer(self, info: strawberry.Info[Context, None]) -> User | None:
        found: User | None = await entity_resolvers.one(info.context, "User", self.customer_pk)
        return found


@strawberry.input(description="Conditions on orders; all given conditions must hold.")
class OrderFilter:
    status: OrderStatus | None = None
    status_in: list[OrderStatus] | None = None
    customer_id: strawberry.ID | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    def to_spec(self) -> Specification:
        parts: list[Specification] = []
        if self.status is not None:
            parts.append(field("status") == self.status.to_domain())
        if self.status_in is not None:
            parts.append(field("status").is_in(s.to_domain() for s in self.status_in))
        if self.customer_id is not None:
            parts.append(field("customer_id") == decode_id(self.customer_id, "User", "customerId"))
        if self.created_after is not None:
            parts.append(field("created_at") > _aware(self.created_after))
        if self.created_before is not None:
            parts.append(field("created_at") < _aware(self.created_before))
        return all_of(parts)


def _aware(moment: datetime) -> datetime:
    # A timestamp without an offset is read as UTC, the zone every stored time uses.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@strawberry.enum
class OrderOrderField(enum.Enum):
    ID = "id"
    CREATED_AT = "created_at"
    STATUS = "status"


@strawberry.input(description="How to sort orders; ties are broken by id.")
class OrderOrder:
    field: OrderOrderField = OrderOrderField.ID
    direction: OrderDirection = OrderDirection.DESC


def order_sort(order: OrderOrder) -> tuple[str, OrderDirection]:
    return order.field.value, order.direction


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
