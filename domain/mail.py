"""Mail the application sends, and what it says when an order ships."""

from __future__ import annotations

from dataclasses import dataclass

from domain.orders import Order
from domain.users import User


@dataclass(frozen=True, slots=True)
class MailMessage:
    to: str
    subject: str
    body: str


def order_shipped(order: Order, customer: User) -> MailMessage:
    lines = "\n".join(f"  {line.quantity} x item {line.item_id}" for line in order.lines)
    return MailMessage(
        to=customer.email.value,
        subject=f"Your order {order.id} has shipped",
        body=(
            f"Hello {customer.name},\n\nyour order {order.id} is on its way:\n{lines}\n\n"
            f"Total: {order.total.amount} {order.total.currency}\n"
        ),
    )
