"""Orders and their lines in SQL: an order always comes back whole, in two statements
(one, a join, for orders by id: what the loaders and federation's `_entities` ask)."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from domain import orders
from domain.paging import Page, PageRequest
from domain.specifications import Specification
from persistence import tables
from persistence.repository import SqlRepository, check_first, id_in
from persistence.specifications import FieldMap, Kind, SqlField

_T = tables.ORDERS
_LINES = tables.ORDER_LINES

ORDER_FIELDS: FieldMap = {
    "id": SqlField(_T.c.id),
    "customer_id": SqlField(_T.c.customer_id),
    "status": SqlField(_T.c.status, Kind.ENUM),
    "created_at": SqlField(_T.c.created_at),
    "updated_at": SqlField(_T.c.updated_at),
}


class SqlOrderRepository(SqlRepository[orders.Order, tables.OrderRow]):
    """`domain.ports.OrderRepository` over `orders` and `order_lines`."""

    row_type = tables.OrderRow
    kind = "order"
    fields = ORDER_FIELDS
    sort_fields = frozenset({"id", "created_at", "updated_at", "status"})

    def _values(self, entity: orders.Order) -> dict[str, Any]:
        return tables.order_values(entity)

    async def _load(self, statement: sa.Select[Any]) -> list[orders.Order]:
        rows = list((await self._db.execute(statement)).mappings())
        return self._seen(await self._with_lines(rows))

    async def get_many(self, keys: Sequence[int]) -> Mapping[int, orders.Order]:
        """Orders among `keys` with their lines, in one statement (orders joined to lines)."""
        unique = sorted(set(keys))
        if not unique:
            return {}
        statement = (
            sa.select(_T, *(column.label(f"line_{column.name}") for column in _LINES.c))
            .select_from(_T.outerjoin(_LINES, _LINES.c.order_id == _T.c.id))
            .where(id_in(_T.c.id, unique, self._db.dialect))
            .order_by(_T.c.id, _LINES.c.id)
        )
        heads: dict[int, dict[str, Any]] = {}
        lines: defaultdict[int, list[orders.OrderLine]] = defaultdict(list)
        for row in (await self._db.execute(statement)).mappings():
            order_id = row["id"]
            heads.setdefault(order_id, {column.name: row[column.name] for column in _T.c})
            if row["line_id"] is not None:
                line = {column.name: row[f"line_{column.name}"] for column in _LINES.c}
                lines[order_id].append(tables.line_from_row(line))
        found = [
            tables.order_from_row(head, tuple(lines[order_id])) for order_id, head in heads.items()
        ]
        return {order.id: order for order in self._seen(found)}

    async def _with_lines(self, rows: Sequence[sa.RowMapping]) -> list[orders.Order]:
        lines = await self.lines_of([row["id"] for row in rows])
        return [tables.order_from_row(row, tuple(lines.get(row["id"], ()))) for row in rows]

    async def lines_of(self, order_ids: Sequence[int]) -> Mapping[int, Sequence[orders.OrderLine]]:
        """Lines of every order among `order_ids`, by order id, in one statement."""
        unique = sorted(set(order_ids))
        if not unique:
            return {}
        statement = (
            sa.select(_LINES)
            .where(id_in(_LINES.c.order_id, unique, self._db.dialect))
            .order_by(_LINES.c.order_id, _LINES.c.id)
        )
        grouped: defaultdict[int, list[orders.OrderLine]] = defaultdict(list)
        for row in (await self._db.execute(statement)).mappings():
            grouped[row["order_id"]].append(tables.line_from_row(row))
        return grouped

    async def add(self, entity: orders.Order) -> None:
        """Insert the order, then all its lines in one batched statement."""
        await super().add(entity)
        params = [tables.line_values(entity.id, line) for line in entity.lines]
        if self._db.dialect == "postgresql":
            statement = sa.insert(_LINES).returning(_LINES.c.id, sort_by_parameter_order=True)
            ids = list((await self._db.execute(statement, params)).scalars())
        else:
            # SQLAlchemy cannot promise RETURNING order for a batched SQLite insert and
            # would send one INSERT per line. One multi-row INSERT under the write lock
            # (BEGIN IMMEDIATE, AUTOINCREMENT) numbers the rows in VALUES order instead.
            statement = sa.insert(_LINES).values(params).returning(_LINES.c.id)
            ids = sorted((await self._db.execute(statement)).scalars())
        entity.lines = tuple(
            dataclasses.replace(line, id=line_id)
            for line, line_id in zip(entity.lines, ids, strict=True)
        )

    def _audit_values(self, entity: orders.Order) -> dict[str, Any]:
        lines = [tables.line_values(entity.id, line) for line in entity.lines]
        for line in lines:
            del line["order_id"]
        return {**self._values(entity), "lines": lines}

    def _changed_values(self, entity: orders.Order) -> dict[str, Any]:
        # Lines never change once placed: only the status moves.
        return {"status": entity.status.value, "updated_at": entity.updated_at}

    async def first_per_customer(
        self, customer_ids: Sequence[int], spec: Specification, request: PageRequest
    ) -> Mapping[int, Page[orders.Order]]:
        """A page per customer from one windowed statement, plus one for all the lines."""
        check_first(request)
        unique = sorted(set(customer_ids))
        if not unique:
            return {}
        position = (
            sa.func.row_number()
            .over(partition_by=_T.c.customer_id, order_by=self._order_by(request.sort))
            .label("position")
        )
        ranked = (
            sa.select(_T, position)
            .where(
                id_in(_T.c.customer_id, unique, self._db.dialect),
                self._where(spec),
                self._after(request),
            )
            .subquery("ranked")
        )
        statement = (
            sa.select(*(ranked.c[c.name] for c in _T.c))
            .where(ranked.c.position <= request.first + 1)
            .order_by(ranked.c.customer_id, ranked.c.position)
        )
        rows = list((await self._db.execute(statement)).mappings())
        fetched: defaultdict[int, list[orders.Order]] = defaultdict(list)
        for order in self._seen(await self._with_lines(rows)):
            fetched[order.customer_id].append(order)
        return {key: self._page(fetched.get(key, []), request) for key in unique}

    async def count_per_customer(
        self, customer_ids: Sequence[int], spec: Specification
    ) -> Mapping[int, int]:
        unique = sorted(set(customer_ids))
        if not unique:
            return {}
        statement = (
            sa.select(_T.c.customer_id, sa.func.count().label("orders"))
            .where(id_in(_T.c.customer_id, unique, self._db.dialect), self._where(spec))
            .group_by(_T.c.customer_id)
        )
        result = await self._db.execute(statement)
        counts = {row["customer_id"]: int(row["orders"]) for row in result.mappings()}
        return {key: counts.get(key, 0) for key in unique}
