"""Order use cases: placing orders and moving them through their life."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from domain.errors import InvalidTransitionError, NotFoundError, StaleStateError
from domain.events import EntityUpdated
from domain.orders import LineRequest, Order, OrderLine, OrderStatus, check_line_requests
from domain.paging import PageRequest
from domain.ports import UnitOfWork
from domain.principals import Principal
from domain.services.entities import EntityService
from domain.specifications import field
from domain.visibility import visible_orders


class OrderService(EntityService):
    """The declared `Order`'s use cases (its reads are the generic service's); events
    are published after commit."""

    async def place(self, principal: Principal, lines: Sequence[LineRequest]) -> Order:
        """Reserve stock and place an order.

        Raises ValidationError (bad lines), NotFoundError (unknown item) or
        OutOfStockError; on any error nothing is written.
        """
        customer_id = principal.require("orders:create")
        check_line_requests(lines)
        async with self._uow() as uow:
            # Locks are taken in id order so two orders over the same items cannot deadlock.
            items = await uow.items.lock_many(sorted(line.item_id for line in lines))
            order_lines = []
            for line in lines:
                item = items.get(line.item_id)
                if item is None or not item.active:
                    raise NotFoundError("Item", line.item_id)
                item.reserve(line.quantity)
                order_lines.append(
                    OrderLine(item_id=item.id, quantity=line.quantity, unit_price=item.price)
                )
            order = Order(customer_id=customer_id, lines=tuple(order_lines))
            await uow.orders.add(order)
            order.placed()
            for item in items.values():
                await uow.items.save(item)
                uow.record(EntityUpdated(entity="Item", key=item.id))  # its stock changed
            await uow.commit()
            events = uow.collect_events()
        await self._publisher.publish(events)
        return order

    async def change_status(
        self, principal: Principal, order_id: int, status: OrderStatus
    ) -> Order:
        """Staff move an order along; raises InvalidTransitionError if not allowed."""
        principal.require("orders:update")
        return await self._transition(principal, order_id, status)

    async def cancel(self, principal: Principal, order_id: int) -> Order:
        """The owner or staff cancel an order before it ships; stock is released."""
        if not principal.can("orders:cancel"):
            principal.require("orders:cancel_own")
        return await self._transition(principal, order_id, OrderStatus.CANCELLED)

    async def cancel_unpaid(self, placed_before: datetime, *, limit: int = 100) -> list[int]:
        """Cancel orders still unpaid that were placed before `placed_before`, releasing
        their stock; the ids this call cancelled.

        Safe to run from several workers at once: each cancel is the compare-and-set of
        `_transition`, so an order cancelled (or paid) by another meanwhile is skipped,
        and its stock is released once.
        """
        unpaid = (field("status") == OrderStatus.PLACED.value) & (
            field("created_at") < placed_before
        )
        async with self._uow(read_only=True) as uow:
            page = await uow.orders.page(unpaid, PageRequest(first=limit))
        cancelled: list[int] = []
        for order in page.items:
            try:
                await self._transition(Principal.system(), order.id, OrderStatus.CANCELLED)
            except (InvalidTransitionError, StaleStateError, NotFoundError):
                continue  # another worker got there first, or it was paid meanwhile
            cancelled.append(order.id)
        return cancelled

    async def _transition(self, principal: Principal, order_id: int, status: OrderStatus) -> Order:
        # A compare-and-set on the status: the order's row is locked before the machine
        # is consulted, so of two concurrent cancels the second sees `cancelled` and is
        # refused (InvalidTransitionError) instead of releasing the stock again; the
        # conditional write guards the same rule should a caller ever skip the lock.
        async with self._uow() as uow:
            order = await self._visible(uow, principal, order_id, for_update=True)
            previous = order.status
            order.transition(status)
            if status is OrderStatus.CANCELLED:
                items = await uow.items.lock_many(sorted(order.item_quantities))
                for item_id, quantity in order.item_quantities.items():
                    if item_id in items:
                        items[item_id].release(quantity)
                        await uow.items.save(items[item_id])
                        uow.record(EntityUpdated(entity="Item", key=item_id))
            await uow.orders.save(order, only_if=field("status") == previous)
            await uow.commit()
            events = uow.collect_events()
        await self._publisher.publish(events)
        return order

    @staticmethod
    async def _visible(
        uow: UnitOfWork, principal: Principal, order_id: int, *, for_update: bool = False
    ) -> Order:
        # A hidden order and a missing one look the same, so ids cannot be probed.
        order = await uow.orders.get(order_id, for_update=for_update)
        if order is None or not visible_orders(principal).is_satisfied_by(order):
            raise NotFoundError("Order", order_id)
        return order
