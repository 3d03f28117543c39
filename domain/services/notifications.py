"""Notifications: mail the customer when something happens to their order."""

from __future__ import annotations

from domain import mail
from domain.events import DomainEvent, OrderStatusChanged
from domain.orders import OrderStatus
from domain.ports import Mailer, UnitOfWorkFactory


class OrderNotifications:
    """Event handlers about orders; each raises (to be retried) if the mail cannot go."""

    def __init__(self, uow: UnitOfWorkFactory, mailer: Mailer) -> None:
        self._uow, self._mailer = uow, mailer

    async def mail_when_shipped(self, event: DomainEvent) -> None:
        """Mail the customer that the order shipped (other status changes: nothing)."""
        if not isinstance(event, OrderStatusChanged) or event.current != OrderStatus.SHIPPED:
            return
        async with self._uow(read_only=True) as uow:
            order = await uow.orders.get(event.order_id)
            customer = await uow.users.get(event.customer_id)
        if order is None or customer is None:
            return  # deleted since: nobody to tell
        await self._mailer.send(mail.order_shipped(order, customer))
