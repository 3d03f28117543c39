"""The Order aggregate: lines, a computed total and a status machine."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from domain.errors import FieldProblem, InvalidTransitionError, ValidationError
from domain.events import OrderPlaced, OrderStatusChanged, RecordsEvents
from domain.model import Policy
from domain.money import Money, total
from domain.visibility import visible_orders

MAX_LINES = 100
MAX_QUANTITY = 10_000


class OrderStatus(enum.StrEnum):
    PLACED = "placed"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


# The status machine: placed -> paid -> shipped -> delivered; cancel only before shipped.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PLACED: frozenset({OrderStatus.PAID, OrderStatus.CANCELLED}),
    OrderStatus.PAID: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
    OrderStatus.DELIVERED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


# Staff read every order, a customer their own (anonymous callers none); orders change
# only through their use cases (`domain.services.orders`), never by generic updates.
POLICY = Policy(write="orders:update", visible=visible_orders)


@dataclass(frozen=True, slots=True)
class LineRequest:
    """What a customer asks for: an item and a quantity."""

    item_id: int
    quantity: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderLine:
    item_id: int
    quantity: int
    unit_price: Money
    id: int = 0

    @property
    def subtotal(self) -> Money:
        return self.unit_price * self.quantity


def check_line_requests(lines: Sequence[LineRequest]) -> None:
    """Raises ValidationError listing every bad line."""
    problems = _line_problems(lines)
    if problems:
        raise ValidationError(problems)


def _line_problems(lines: Sequence[LineRequest]) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    if not lines:
        problems.append(FieldProblem("lines", "an order needs at least one line"))
    if len(lines) > MAX_LINES:
        problems.append(FieldProblem("lines", f"at most {MAX_LINES} lines per order"))
    seen: set[int] = set()
    for index, line in enumerate(lines):
        if not 0 < line.quantity <= MAX_QUANTITY:
            problems.append(
                FieldProblem(f"lines.{index}.quantity", f"must be between 1 and {MAX_QUANTITY}")
            )
        if line.item_id in seen:
            problems.append(FieldProblem(f"lines.{index}.itemId", "appears more than once"))
        seen.add(line.item_id)
    return problems


@dataclass(eq=False, slots=True, kw_only=True)
class Order(RecordsEvents):
    """An order. Lines are fixed once placed; the total is always their sum."""

    customer_id: int
    lines: tuple[OrderLine, ...]
    status: OrderStatus = OrderStatus.PLACED
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    id: int = 0

    def __post_init__(self) -> None:
        problems = _line_problems([LineRequest(line.item_id, line.quantity) for line in self.lines])
        currencies = {line.unit_price.currency for line in self.lines}
        if len(currencies) > 1:
            problems.append(FieldProblem("lines", "all lines must share one currency"))
        if problems:
            raise ValidationError(problems)

    @property
    def total(self) -> Money:
        return total([line.subtotal for line in self.lines])

    @property
    def currency(self) -> str:
        return self.lines[0].unit_price.currency

    @property
    def item_quantities(self) -> dict[int, int]:
        return {line.item_id: line.quantity for line in self.lines}

    def placed(self) -> None:
        """Record the OrderPlaced event; called once the order has its id."""
        self.record(OrderPlaced(order_id=self.id, customer_id=self.customer_id, total=self.total))

    def can_become(self, target: OrderStatus) -> bool:
        return target in TRANSITIONS[self.status]

    def transition(self, target: OrderStatus, now: datetime | None = None) -> None:
        """Move to `target`; raises InvalidTransitionError if the machine forbids it."""
        if not self.can_become(target):
            raise InvalidTransitionError("order", self.status.value, target.value)
        previous, self.status = self.status, target
        self.updated_at = now or datetime.now(UTC)
        self.record(
            OrderStatusChanged(
                order_id=self.id,
                customer_id=self.customer_id,
                previous=previous.value,
                current=target.value,
            )
        )
