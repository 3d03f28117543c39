"""Item resolvers: read arguments, call the catalog service or a loader, return."""

from __future__ import annotations

from domain.items import Item
from domain.money import Money
from domain.paging import Page, PageRequest
from domain.services.items import ItemChanges
from domain.specifications import Specification
from resolvers.context import Context


async def item(context: Context, item_id: int) -> Item | None:
    return await context.loaders.items.load(item_id)


async def items(context: Context, spec: Specification, request: PageRequest) -> Page[Item]:
    return await context.services.items.page(context.principal, spec, request)


async def count_items(context: Context, spec: Specification) -> int:
    return await context.services.items.count(context.principal, spec)


async def create_item(
    context: Context, *, sku: str, name: str, price: Money, description: str, stock: int
) -> Item:
    return await context.services.items.create(
        context.principal, sku=sku, name=name, price=price, description=description, stock=stock
    )


async def update_item(context: Context, item_id: int, changes: ItemChanges) -> Item:
    updated = await context.services.items.update(context.principal, item_id, changes)
    context.loaders.items.clear(item_id)
    return updated


async def delete_item(context: Context, item_id: int) -> Item:
    deleted = await context.services.items.delete(context.principal, item_id)
    context.loaders.items.clear(item_id)
    return deleted
