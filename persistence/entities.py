"""Tables and repositories derived from entity models (`domain.model.EntityModel`).

Nothing here is written per entity: an attribute's `FieldType` decides its columns
(`MONEY` is `<name>_cents` and `<name>_currency`; `REF` an integer foreign key to
the target's `id`), its `SqlField` for filters and sorting, and how a row becomes the
domain object again (`factory(**values)`, value objects rebuilt).

A table is derived once per process, into `persistence.tables.METADATA` (what
migrations and `gateway db revision` compare against) unless something derived it
first into another MetaData: a test-only entity binds its table to the test's own
MetaData so the application's migrations never see it. A table the MetaData already
holds (written by hand, with constraints a model does not say, as the demo's `items`)
is adopted as it is: the attributes' columns must be there (`Attribute.columns` names
them when they differ).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from domain.model import Attribute, EntityModel, EntityRegistry, FieldType, Relation, Through
from domain.money import Money
from domain.paging import Page, PageRequest
from domain.specifications import Specification
from domain.users import Email
from persistence import tables
from persistence.read_sources import association_table
from persistence.repository import SqlContext, SqlRepository, check_first, id_in
from persistence.specifications import FieldMap, Kind, SqlField

_DERIVED: dict[str, sa.Table] = {}


def _target_table(name: str) -> sa.Table:
    found = _DERIVED.get(name)
    if found is None:
        raise KeyError(f"no table for entity {name}; derive its table first")
    return found


def _columns(model: EntityModel, attribute: Attribute) -> list[sa.Column[Any]]:
    nullable = attribute.nullable
    name, *rest = attribute.column_names
    match attribute.type:
        case FieldType.STR:
            return [
                sa.Column(name, tables.text_type(attribute.max_length or 200), nullable=nullable)
            ]
        case FieldType.EMAIL:
            return [sa.Column(name, tables.text_type(254), nullable=nullable)]
        case FieldType.TEXT:
            return [sa.Column(name, sa.Text, nullable=nullable)]
        case FieldType.INT:
            return [sa.Column(name, sa.BigInteger, nullable=nullable)]
        case FieldType.BOOL:
            return [sa.Column(name, sa.Boolean, nullable=nullable)]
        case FieldType.DECIMAL:
            return [sa.Column(name, sa.Numeric(18, 6), nullable=nullable)]
        case FieldType.DATETIME:
            return [sa.Column(name, tables.UtcDateTime, nullable=nullable)]
        case FieldType.ENUM_SET:
            return [sa.Column(name, sa.String(200), nullable=nullable)]
        case FieldType.ENUM:
            return [sa.Column(name, sa.String(50), nullable=nullable)]
        case FieldType.MONEY:
            return [
                sa.Column(name, sa.BigInteger, nullable=nullable),
                sa.Column(rest[0], sa.CHAR(3), nullable=nullable),
            ]
        case FieldType.REF:
            assert attribute.target is not None
            reference: str | sa.Column[Any]
            if attribute.target == model.name:
                target_name, reference = model.table, f"{model.table}.id"
            else:
                target = _target_table(attribute.target)
                target_name, reference = target.name, target.c.id
            constraint = f"fk_{model.table}_{name}_{target_name}"
            key = sa.ForeignKey(reference, name=constraint)
            # What a reference to a missing row is reported as (persistence.errors).
            info = {"attribute": attribute.name, "target": attribute.target}
            return [sa.Column(name, sa.Integer, key, nullable=nullable, index=True, info=info)]


def declared_table(
    model: EntityModel,
    metadata: sa.MetaData | None = None,
    *,
    links: Iterable[tuple[str, str]] = (),
) -> sa.Table:
    """The table of `model`, derived on first use (into `metadata`, by default the
    application's). `links` are the pairs of reference columns of a many-to-many's
    association (`EntityRegistry.links`): each pair is unique, so one pair of objects is
    linked by one row at most however many requests race to link them."""
    found = _DERIVED.get(model.name)
    if found is not None:
        return found
    chosen = metadata if metadata is not None else tables.METADATA
    existing = chosen.tables.get(model.table)
    if existing is not None:
        _DERIVED[model.name] = _sort_indexes(model, _adopted(model, existing))
        return existing
    columns: list[sa.Column[Any]] = [sa.Column("id", sa.Integer, primary_key=True)]
    constraints: list[sa.UniqueConstraint] = []
    for attribute in model.attributes:
        columns.extend(_columns(model, attribute))
        if attribute.unique:
            constraints.append(
                sa.UniqueConstraint(attribute.name, name=f"uq_{model.table}_{attribute.name}")
            )
    for pair in sorted(
        {tuple(sorted(model.attribute(a).column_names[0] for a in p)) for p in links}
    ):
        constraints.append(sa.UniqueConstraint(*pair, name=f"uq_{model.table}_{'_'.join(pair)}"))
    table = sa.Table(
        model.table,
        metadata if metadata is not None else tables.METADATA,
        *columns,
        *constraints,
        # A deleted row's id never comes back as another row's (see persistence.tables).
        sqlite_autoincrement=True,
        info={"entity": model.name},
    )
    _DERIVED[model.name] = _sort_indexes(model, table)
    return table


def _sort_indexes(model: EntityModel, table: sa.Table) -> sa.Table:
    """`table` with an index on (field, id) for each orderable field not unique by itself.

    A page in that order (`first` rows after a `(field, id)` cursor) then reads its rows
    from the index instead of sorting the whole table on every request: the demo's
    latest 50 of 10,000 orders, 4.5-8.6 ms of Postgres time sorted, 1.7 ms from the
    index (docs/benchmarks/design-notes.md).
    """
    unique = {
        next(iter(constraint.columns)).name
        for constraint in table.constraints
        if isinstance(constraint, sa.UniqueConstraint) and len(constraint.columns) == 1
    }
    named = {index.name for index in table.indexes}
    for attribute in model.attributes:
        column = attribute.column_names[0]
        name = f"ix_{table.name}_{column}_id"
        if attribute.orderable and column not in unique and name not in named:
            sa.Index(name, table.c[column], table.c.id)
    return table


def _adopted(model: EntityModel, table: sa.Table) -> sa.Table:
    """`table` if it has every column the model's attributes need; raises KeyError."""
    for attribute in model.attributes:
        for column in attribute.column_names:
            if column not in table.c:
                raise KeyError(
                    f"entity {model.name}, field {attribute.name}: "
                    f"table {table.name} has no column {column}"
                )
    return table


def field_map(model: EntityModel, table: sa.Table) -> FieldMap:
    """How the specifications of `model` compile against `table`."""
    fields: dict[str, SqlField] = {"id": SqlField(table.c.id)}
    for attribute in model.attributes:
        name, nullable = attribute.name, attribute.nullable
        column, *rest = attribute.column_names
        match attribute.type:
            case FieldType.STR | FieldType.TEXT:
                fields[name] = SqlField(table.c[column], Kind.TEXT, nullable=nullable)
            case FieldType.EMAIL:
                fields[name] = SqlField(table.c[column], Kind.EMAIL, nullable=nullable)
            case FieldType.ENUM:
                fields[name] = SqlField(table.c[column], Kind.ENUM, nullable=nullable)
            case FieldType.MONEY:
                fields[name] = SqlField(
                    table.c[column], Kind.MONEY, currency=table.c[rest[0]], nullable=nullable
                )
            case _:
                fields[name] = SqlField(table.c[column], nullable=nullable)
    return fields


def _decode(attribute: Attribute, row: sa.RowMapping) -> Any:
    column, *rest = attribute.column_names
    if attribute.type is FieldType.MONEY:
        cents = row[column]
        return None if cents is None else Money(cents, row[rest[0]])
    value = row[column]
    if value is None:
        return None
    if attribute.type is FieldType.EMAIL:
        return Email(value)
    if attribute.type is FieldType.DECIMAL:
        return Decimal(value)
    if attribute.type is FieldType.ENUM_SET:
        assert attribute.choices is not None
        return frozenset(attribute.choices(part) for part in value.split(",") if part)
    if attribute.type is FieldType.ENUM:
        assert attribute.choices is not None
        return attribute.choices(value)
    return value


def _encode(attribute: Attribute, value: Any) -> dict[str, Any]:
    column, *rest = attribute.column_names
    if attribute.type is FieldType.MONEY:
        money: Money | None = value
        return {
            column: None if money is None else money.cents,
            rest[0]: None if money is None else money.currency,
        }
    if attribute.type is FieldType.EMAIL and isinstance(value, Email):
        return {column: value.value}
    if attribute.type is FieldType.ENUM and value is not None:
        return {column: value.value}
    if attribute.type is FieldType.ENUM_SET and value is not None:
        return {column: ",".join(sorted(member.value for member in value))}
    return {column: value}


def _stored(model: EntityModel, entity: Any) -> dict[str, Any]:
    """The columns of `entity`'s attributes."""
    values: dict[str, Any] = {}
    for attribute in model.attributes:
        values.update(_encode(attribute, getattr(entity, attribute.name)))
    return values


class DeclaredRepository(SqlRepository[Any, Any]):
    """`domain.ports.EntityRepository` over the table derived from an entity model.

    An aggregate's parts (`RelationKind.PARTS`: an order's lines) are loaded with it,
    one statement for every part of the rows a statement read, and written with it on
    `add`; a part never changes afterwards (`save` writes the aggregate's own row) and
    goes with it on `delete`.
    """

    model: EntityModel
    table: sa.Table
    # The model's parts: each relation with its part's repository (set by `repositories`).
    parts: tuple[tuple[Relation, type[DeclaredRepository]], ...] = ()

    def __init__(self, db: SqlContext) -> None:
        self._db = db
        self._table = self.table

    def _from_row(self, row: sa.RowMapping) -> Any:
        return self._built(row, {})

    @classmethod
    def _built(cls, row: sa.RowMapping, held: Mapping[str, tuple[Any, ...]]) -> Any:
        values = {a.name: _decode(a, row) for a in cls.model.attributes}
        return cls.model.factory(id=row["id"], **values, **held)

    def _values(self, entity: Any) -> dict[str, Any]:
        return _stored(self.model, entity)

    def _audit_values(self, entity: Any) -> dict[str, Any]:
        values = self._values(entity)
        for relation, part in self.parts:
            values[relation.name] = [_stored(part.model, p) for p in getattr(entity, relation.name)]
        return values

    async def _load(self, statement: sa.Select[Any]) -> list[Any]:
        rows = list((await self._db.execute(statement)).mappings())
        if not self.parts:
            return self._seen([self._built(row, {}) for row in rows])
        held = await self._held([row["id"] for row in rows])
        return self._seen([self._built(row, held[row["id"]]) for row in rows])

    async def _held(self, owners: Sequence[int]) -> dict[int, dict[str, tuple[Any, ...]]]:
        """The parts of each of `owners`, by relation name: a statement per relation."""
        held: dict[int, dict[str, tuple[Any, ...]]] = {owner: {} for owner in owners}
        for relation, part in self.parts:
            grouped: defaultdict[int, list[Any]] = defaultdict(list)
            if owners:
                table = part.table
                key = table.c[relation.key]
                statement = (
                    sa.select(table)
                    .where(id_in(key, sorted(set(owners)), self._db.dialect))
                    .order_by(key, table.c.id)
                )
                for row in (await self._db.execute(statement)).mappings():
                    grouped[row[relation.key]].append(part._built(row, {}))
            for owner in owners:
                held[owner][relation.name] = tuple(grouped.get(owner, ()))
        return held

    async def add(self, entity: Any) -> None:
        """Insert the row, then each relation's parts in one batched statement."""
        await super().add(entity)
        for relation, part in self.parts:
            held = getattr(entity, relation.name)
            if not held:
                continue
            table = part.table
            params = [{**_stored(part.model, p), relation.key: entity.id} for p in held]
            if self._db.dialect == "postgresql":
                statement = sa.insert(table).returning(table.c.id, sort_by_parameter_order=True)
                ids = list((await self._db.execute(statement, params)).scalars())
            else:
                # SQLAlchemy cannot promise RETURNING order for a batched SQLite insert and
                # would send one INSERT per row. One multi-row INSERT under the write lock
                # (BEGIN IMMEDIATE, AUTOINCREMENT) numbers the rows in VALUES order instead.
                values = sa.insert(table).values(params).returning(table.c.id)
                ids = sorted((await self._db.execute(values)).scalars())
            stored = (dataclasses.replace(p, id=i) for p, i in zip(held, ids, strict=True))
            setattr(entity, relation.name, tuple(stored))

    async def delete(self, entity: Any) -> None:
        for relation, part in self.parts:
            owned = part.table.c[relation.key] == entity.id
            await self._db.execute(sa.delete(part.table).where(owned))
        await super().delete(entity)

    async def page_per(
        self, key: str, owners: Sequence[int], spec: Specification, request: PageRequest
    ) -> Mapping[int, Page[Any]]:
        """A page per owner from one windowed statement."""
        check_first(request)
        unique = sorted(set(owners))
        if not unique:
            return {}
        owner = self._table.c[key]
        position = (
            sa.func.row_number()
            .over(partition_by=owner, order_by=self._order_by(request.sort))
            .label("_page_position")  # not a column name: attributes cannot start with _
        )
        ranked = (
            sa.select(self._table, position)
            .where(id_in(owner, unique, self._db.dialect), self._where(spec), self._after(request))
            .subquery("ranked")
        )
        statement = (
            sa.select(*(ranked.c[c.name] for c in self._table.c))
            .where(ranked.c._page_position <= request.first + 1)
            .order_by(ranked.c[key], ranked.c._page_position)
        )
        fetched: defaultdict[int, list[Any]] = defaultdict(list)
        for entity in await self._load(statement):
            fetched[getattr(entity, key)].append(entity)
        return {owner_id: self._page(fetched.get(owner_id, []), request) for owner_id in unique}

    async def count_per(
        self, key: str, owners: Sequence[int], spec: Specification
    ) -> Mapping[int, int]:
        unique = sorted(set(owners))
        if not unique:
            return {}
        owner = self._table.c[key]
        statement = (
            sa.select(owner.label("owner"), sa.func.count().label("found"))
            .where(id_in(owner, unique, self._db.dialect), self._where(spec))
            .group_by(owner)
        )
        result = await self._db.execute(statement)
        counts = {row["owner"]: int(row["found"]) for row in result.mappings()}
        return {owner_id: counts.get(owner_id, 0) for owner_id in unique}

    async def rows_per(
        self, key: str, owners: Sequence[int], spec: Specification
    ) -> Mapping[int, Sequence[Any]]:
        unique = sorted(set(owners))
        if not unique:
            return {}
        owner = self._table.c[key]
        statement = (
            sa.select(self._table)
            .where(id_in(owner, unique, self._db.dialect), self._where(spec))
            .order_by(owner, self._table.c.id)
        )
        fetched: defaultdict[int, list[Any]] = defaultdict(list)
        for entity in await self._load(statement):
            fetched[getattr(entity, key)].append(entity)
        return {owner_id: fetched.get(owner_id, []) for owner_id in unique}

    def _links(self, through: Through, owners: Sequence[int]) -> sa.Subquery:
        """The distinct (owner, target) pairs of the association rows of `owners`: a
        pair stored twice links the target once."""
        table = association_table(through)
        owner = table.c[through.key]
        return (
            sa.select(owner.label("_owner"), table.c[through.target_key].label("_target"))
            .where(id_in(owner, owners, self._db.dialect))
            .distinct()
            .subquery("links")
        )

    async def page_through(
        self, through: Through, owners: Sequence[int], spec: Specification, request: PageRequest
    ) -> Mapping[int, Page[Any]]:
        """A page per owner of the linked entities, from one windowed statement."""
        check_first(request)
        unique = sorted(set(owners))
        if not unique:
            return {}
        links = self._links(through, unique)
        position = (
            sa.func.row_number()
            .over(partition_by=links.c._owner, order_by=self._order_by(request.sort))
            .label("_page_position")  # not a column name: attributes cannot start with _
        )
        ranked = (
            sa.select(self._table, links.c._owner, position)
            .join_from(self._table, links, links.c._target == self._table.c.id)
            .where(self._where(spec), self._after(request))
            .subquery("ranked")
        )
        statement = (
            sa.select(*(ranked.c[c.name] for c in self._table.c), ranked.c._owner)
            .where(ranked.c._page_position <= request.first + 1)
            .order_by(ranked.c._owner, ranked.c._page_position)
        )
        result = await self._db.execute(statement)
        fetched: defaultdict[int, list[Any]] = defaultdict(list)
        for row in result.mappings():
            fetched[row["_owner"]].append(self._from_row(row))
        for linked in fetched.values():
            self._seen(linked)
        return {owner_id: self._page(fetched.get(owner_id, []), request) for owner_id in unique}

    async def count_through(
        self, through: Through, owners: Sequence[int], spec: Specification
    ) -> Mapping[int, int]:
        unique = sorted(set(owners))
        if not unique:
            return {}
        links = self._links(through, unique)
        statement = (
            sa.select(links.c._owner.label("owner"), sa.func.count().label("found"))
            .join_from(self._table, links, links.c._target == self._table.c.id)
            .where(self._where(spec))
            .group_by(links.c._owner)
        )
        result = await self._db.execute(statement)
        counts = {row["owner"]: int(row["found"]) for row in result.mappings()}
        return {owner_id: counts.get(owner_id, 0) for owner_id in unique}


def repository_class(model: EntityModel) -> type[DeclaredRepository]:
    """A repository class bound to `model` and its table (derived if not yet)."""
    table = declared_table(model)
    namespace = {
        "model": model,
        "table": table,
        "kind": model.name.lower(),
        "entity_name": model.name,
        "fields": field_map(model, table),
        "sort_fields": model.sort_fields,
    }
    return type(f"Sql{model.name}Repository", (DeclaredRepository,), namespace)


def repositories(registry: EntityRegistry) -> dict[str, type[DeclaredRepository]]:
    """Every declared entity's repository class, by entity name (targets derived first)."""
    pending = list(registry)
    ordered: list[EntityModel] = []
    while pending:
        ready = [
            m
            for m in pending
            if all(
                a.target in _DERIVED or a.target == m.name
                for a in m.attributes
                if a.type is FieldType.REF
            )
        ]
        if not ready:
            ready = pending[:1]  # a cycle: let the KeyError name the missing table
        for model in ready:
            declared_table(model, links=registry.links(model.name))
            ordered.append(model)
            pending.remove(model)
    classes = {model.name: repository_class(model) for model in ordered}
    for model in ordered:
        classes[model.name].parts = tuple((r, classes[r.target]) for r in model.parts)
    return classes
