"""Catalog items in SQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from domain import items
from persistence import tables
from persistence.repository import SqlRepository
from persistence.specifications import FieldMap, Kind, SqlField

_T = tables.ITEMS

ITEM_FIELDS: FieldMap = {
    "id": SqlField(_T.c.id),
    "sku": SqlField(_T.c.sku, Kind.TEXT),
    "name": SqlField(_T.c.name, Kind.TEXT),
    "description": SqlField(_T.c.description, Kind.TEXT),
    "price": SqlField(_T.c.price_cents, Kind.MONEY, currency=_T.c.currency),
    "stock": SqlField(_T.c.stock),
    "active": SqlField(_T.c.active),
    "created_at": SqlField(_T.c.created_at),
}


class SqlItemRepository(SqlRepository[items.Item, tables.ItemRow]):
    """`domain.ports.ItemRepository` over the `items` table."""

    row_type = tables.ItemRow
    kind = "item"
    fields = ITEM_FIELDS
    sort_fields = frozenset({"id", "name", "price", "stock", "created_at", "sku"})

    def _from_row(self, row: sa.RowMapping) -> items.Item:
        return tables.item_from_row(row)

    def _values(self, entity: items.Item) -> dict[str, Any]:
        return tables.item_values(entity)

    async def is_referenced(self, key: int) -> bool:
        lines = tables.ORDER_LINES
        statement = sa.select(sa.exists().where(lines.c.item_id == key))
        result = await self._db.execute(statement)
        return bool(result.scalar_one())
