"""Catalog service: reading and changing items.

`ItemService` holds the catalog's rules (a unique sku, a price change recorded as an
event, no deleting an item an order references); `ItemUseCases` puts them in place of
the generic commands of the declared `Item` (`schema/declarations/items.py`), whose
reads stay the generic ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from domain.errors import ConflictError, DuplicateError, NotFoundError
from domain.events import EntityCreated, EntityDeleted, EntityUpdated
from domain.items import Item, check_item_fields
from domain.money import Money
from domain.paging import Page, PageRequest
from domain.ports import EventPublisher, UnitOfWorkFactory
from domain.principals import Principal
from domain.services.audit import AuditedService
from domain.services.entities import EntityService
from domain.specifications import Specification, field
from domain.visibility import visible_items

ITEM_SORT_FIELDS = frozenset({"id", "name", "price", "stock", "created_at", "sku"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemChanges:
    """A partial update: None leaves a field as it is."""

    name: str | None = None
    description: str | None = None
    price: Money | None = None
    stock: int | None = None
    active: bool | None = None


class ItemService(AuditedService):
    """Catalog queries and commands; writes need staff."""

    def __init__(self, uow: UnitOfWorkFactory, publisher: EventPublisher) -> None:
        self._uow, self._publisher = uow, publisher

    async def get_many(self, principal: Principal, ids: Sequence[int]) -> Mapping[int, Item]:
        """Items among `ids` the caller may see; unknown or hidden ids are absent."""
        async with self._uow(read_only=True) as uow:
            found = await uow.items.get_many(ids)
        rule = visible_items(principal)
        return {key: item for key, item in found.items() if rule.is_satisfied_by(item)}

    async def page(
        self, principal: Principal, spec: Specification, request: PageRequest
    ) -> Page[Item]:
        async with self._uow(read_only=True) as uow:
            return await uow.items.page(spec & visible_items(principal), request)

    async def count(self, principal: Principal, spec: Specification) -> int:
        async with self._uow(read_only=True) as uow:
            return await uow.items.count(spec & visible_items(principal))

    async def create(
        self,
        principal: Principal,
        *,
        sku: str,
        name: str,
        price: Money,
        description: str = "",
        stock: int = 0,
    ) -> Item:
        """Add an item; raises ForbiddenError, ValidationError or DuplicateError (sku)."""
        principal.require("items:write")
        item = Item(sku=sku, name=name, price=price, description=description, stock=stock)
        async with self._uow() as uow:
            existing = await uow.items.page(field("sku") == sku, PageRequest(first=1))
            if existing.items:
                raise DuplicateError("item", "sku", sku)
            await uow.items.add(item)
            uow.record(EntityCreated(entity="Item", key=item.id))
            await uow.commit()
            events = uow.collect_events()
        await self._publisher.publish(events)
        return item

    async def update(self, principal: Principal, item_id: int, changes: ItemChanges) -> Item:
        """Apply a partial update; a price change publishes ItemPriceChanged (and every
        change of an item, created, updated or deleted, its Entity* event)."""
        principal.require("items:write")
        check_item_fields(
            name=changes.name,
            price=changes.price,
            stock=changes.stock,
            description=changes.description,
        )
        async with self._uow() as uow:
            found = await uow.items.lock_many([item_id])
            item = found.get(item_id)
            if item is None:
                raise NotFoundError("Item", item_id)
            if changes.name is not None:
                item.name = changes.name.strip()
            if changes.description is not None:
                item.description = changes.description
            if changes.stock is not None:
                item.stock = changes.stock
            if changes.active is not None:
                item.active = changes.active
            if changes.price is not None:
                item.change_price(changes.price)
            await uow.items.save(item)
            others = (changes.name, changes.description, changes.stock, changes.active)
            if any(change is not None for change in others):
                # A price change alone is told by ItemPriceChanged (about the same item).
                uow.record(EntityUpdated(entity="Item", key=item.id))
            await uow.commit()
            events = uow.collect_events()
        await self._publisher.publish(events)
        return item

    async def delete(self, principal: Principal, item_id: int) -> Item:
        """Delete an item no order references; otherwise ConflictError (deactivate it)."""
        principal.require("items:write")
        async with self._uow() as uow:
            item = await uow.items.get(item_id)
            if item is None:
                raise NotFoundError("Item", item_id)
            if await uow.items.is_referenced(item_id):
                raise ConflictError(
                    f"item {item_id} is referenced by orders; set active to false instead"
                )
            await uow.items.delete(item)
            uow.record(EntityDeleted(entity="Item", key=item_id))
            await uow.commit()
            events = uow.collect_events()
        await self._publisher.publish(events)
        return item


class ItemUseCases(EntityService):
    """The declared Item's create, update and delete are the catalog's (`ItemService`)."""

    @property
    def _catalog(self) -> ItemService:
        return ItemService(self._uow, self._publisher)

    async def create(self, principal: Principal, values: Mapping[str, Any]) -> Item:
        """`ItemService.create`: ForbiddenError, ValidationError or DuplicateError (sku)."""
        return await self._catalog.create(principal, **values)

    async def update(self, principal: Principal, key: int, changes: Mapping[str, Any]) -> Item:
        """`ItemService.update`: a price change publishes ItemPriceChanged."""
        return await self._catalog.update(principal, key, ItemChanges(**changes))

    async def delete(self, principal: Principal, key: int) -> Item:
        """`ItemService.delete`: ConflictError while an order references the item."""
        return await self._catalog.delete(principal, key)
