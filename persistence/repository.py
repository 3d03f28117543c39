"""A generic SQL repository: batched lookups, keyset pages and counts over one table."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from domain.audit import AuditAction, AuditRecord, changed_fields
from domain.errors import MissingReferenceError, StaleStateError, ValidationError
from domain.paging import Cursor, Direction, Page, PageRequest, Sort, sort_key
from domain.specifications import Specification
from persistence.errors import domain_error_for, missing_reference, out_of_range
from persistence.specifications import FieldMap, Predicate, SqlField, compile_spec
from persistence.tables import table_of


class HasId(Protocol):
    id: int


@dataclass(slots=True)
class SqlContext:
    """What every repository of one unit of work shares: its session, its tracker and,
    in a writing unit of work, where its changes are audited."""

    session: AsyncSession
    dialect: str
    track: Callable[[object], None] = field(default=lambda _entity: None)
    # Told of every change a repository writes; None in a read-only unit of work.
    audit: Callable[[AuditRecord], None] | None = None
    # The stored values of each entity loaded or written here, by (entity, id): what
    # an update is compared with, so the audit names the fields it changed.
    snapshots: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)

    async def execute(
        self,
        statement: sa.Executable,
        params: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        *,
        values: Mapping[str, Any] | None = None,
    ) -> sa.Result[Any]:
        """Run a statement, turning known conflicts into domain errors."""
        try:
            return await self.session.execute(statement, params)
        except exc.DBAPIError as error:
            written = getattr(statement, "table", None)
            table = written if isinstance(written, sa.Table) else None
            translated = domain_error_for(error, values, table)
            if translated is None:
                raise
            if (
                isinstance(translated, MissingReferenceError)
                and translated.field == "input"
                and self.dialect == "sqlite"
                and table is not None
                and values
            ):
                translated = await self._missing_reference(table, values) or translated
            raise translated from error
        except OverflowError as error:  # sqlite3: an int past 64 bits, before SQL runs
            raise out_of_range() from error

    async def _missing_reference(
        self, table: sa.Table, values: Mapping[str, Any]
    ) -> MissingReferenceError | None:
        """Which reference of the row `values` is missing, asked of the database when it
        did not say (SQLite). Only a statement failed: its transaction goes on."""
        for column in table.columns:  # in the table's order: the same answer each time
            value = values.get(column.name)
            for key in column.foreign_keys if value is not None else ():
                referred = key.column
                found = await self.session.execute(sa.select(referred).where(referred == value))
                if found.first() is None:
                    return missing_reference(column)
        return None


def id_in(column: sa.ColumnElement[int], keys: Sequence[int], dialect: str) -> Predicate:
    """`column IN (...)`; on Postgres one array parameter (`= ANY($1)`), one plan for any size."""
    if dialect == "postgresql":
        ids = sa.bindparam("ids", list(keys), type_=postgresql.ARRAY(sa.Integer))
        return column == sa.any_(ids)
    return column.in_(list(keys))


class SqlRepository[Entity: HasId, Row: SQLModel]:
    """Repository operations shared by every aggregate stored in one table."""

    row_type: ClassVar[type[SQLModel]]
    kind: ClassVar[str]
    # The entity's name in the audit trail (and the schema): `Item`, or a declared name.
    entity_name: ClassVar[str]
    fields: ClassVar[FieldMap]
    sort_fields: ClassVar[frozenset[str]]

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if "entity_name" not in cls.__dict__ and "kind" in cls.__dict__:
            cls.entity_name = cls.kind.capitalize()

    def __init__(self, db: SqlContext) -> None:
        self._db = db
        self._table = table_of(self.row_type)

    # --- hooks ---------------------------------------------------------------------

    def _from_row(self, row: sa.RowMapping) -> Entity:
        raise NotImplementedError

    def _values(self, entity: Entity) -> dict[str, Any]:
        raise NotImplementedError

    def _changed_values(self, entity: Entity) -> dict[str, Any]:
        """The columns `save` writes; an aggregate with immutable parts narrows them."""
        return self._values(entity)

    def _audit_values(self, entity: Entity) -> dict[str, Any]:
        """What the audit trail shows of the entity; an aggregate adds its parts."""
        return self._values(entity)

    async def _load(self, statement: sa.Select[Any]) -> list[Entity]:
        """Run a select over the table and map its rows; subclasses add children."""
        result = await self._db.execute(statement)
        return self._seen([self._from_row(row) for row in result.mappings()])

    def _seen(self, entities: list[Entity]) -> list[Entity]:
        for entity in entities:
            self._db.track(entity)
            if self._db.audit is not None:
                self._db.snapshots[(self.entity_name, entity.id)] = self._audit_values(entity)
        return entities

    def _audited(self, record: AuditRecord) -> None:
        if self._db.audit is not None:
            self._db.audit(record)

    # --- the Repository port ------------------------------------------------------------

    @property
    def _id(self) -> sa.ColumnElement[int]:
        return self._table.c.id

    async def get(self, key: int, *, for_update: bool = False) -> Entity | None:
        statement = sa.select(self._table).where(self._id == key)
        if for_update:
            # On SQLite the write transaction (`BEGIN IMMEDIATE`) already holds the
            # database lock, and SQLAlchemy renders no FOR UPDATE there.
            statement = statement.with_for_update()
        found = await self._load(statement)
        return found[0] if found else None

    async def lock_many(self, keys: Sequence[int]) -> Mapping[int, Entity]:
        """Load rows `FOR UPDATE`, in id order so that two lockers never deadlock."""
        unique = sorted(set(keys))
        if not unique:
            return {}
        statement = (
            sa.select(self._table)
            .where(id_in(self._id, unique, self._db.dialect))
            .order_by(self._id)
            .with_for_update()
        )
        return {entity.id: entity for entity in await self._load(statement)}

    async def get_many(self, keys: Sequence[int]) -> Mapping[int, Entity]:
        unique = sorted(set(keys))
        if not unique:
            return {}
        statement = sa.select(self._table).where(id_in(self._id, unique, self._db.dialect))
        return {entity.id: entity for entity in await self._load(statement.order_by(self._id))}

    async def add(self, entity: Entity) -> None:
        values = self._values(entity)
        statement = sa.insert(self._table).values(values).returning(self._id)
        result = await self._db.execute(statement, values=values)
        entity.id = result.scalar_one()
        self._db.track(entity)
        if self._db.audit is not None:
            after = self._audit_values(entity)
            self._db.snapshots[(self.entity_name, entity.id)] = after
            self._audited(AuditRecord(AuditAction.CREATE, self.entity_name, entity.id, after=after))

    async def save(self, entity: Entity, *, only_if: Specification | None = None) -> None:
        """Write back the entity; with `only_if`, a compare-and-set on the stored row.

        The UPDATE carries `only_if` in its WHERE clause, so it writes nothing unless
        the row still satisfies it when the write happens (on Postgres a waiting
        UPDATE re-checks the row a concurrent writer committed); then StaleStateError.
        """
        values = self._changed_values(entity)
        previous = await self._previous(entity, values) if self._db.audit is not None else None
        statement = sa.update(self._table).where(self._id == entity.id)
        if only_if is not None:
            statement = statement.where(self._where(only_if))
        result = await self._db.execute(statement.values(values), values=values)
        if only_if is not None and _rowcount(result) == 0:
            raise StaleStateError(self.kind, entity.id)
        if previous is not None:
            now = {**previous, **values}
            self._db.snapshots[(self.entity_name, entity.id)] = now
            before, after = changed_fields(previous, values)
            if after:
                self._audited(
                    AuditRecord(AuditAction.UPDATE, self.entity_name, entity.id, before, after)
                )

    async def delete(self, entity: Entity) -> None:
        """Remove the entity's row (a table others refer to raises ConflictError)."""
        before = self._db.snapshots.pop((self.entity_name, entity.id), None)
        await self._db.execute(sa.delete(self._table).where(self._id == entity.id))
        self._audited(
            AuditRecord(
                AuditAction.DELETE,
                self.entity_name,
                entity.id,
                before=before if before is not None else self._audit_values(entity),
            )
        )

    async def _previous(self, entity: Entity, values: Mapping[str, Any]) -> dict[str, Any]:
        """The stored values `save` is about to overwrite: as loaded in this unit of work
        (the services lock what they change), else read now."""
        known = self._db.snapshots.get((self.entity_name, entity.id))
        if known is not None:
            return known
        columns = [self._table.c[name] for name in values]
        result = await self._db.execute(sa.select(*columns).where(self._id == entity.id))
        row = result.mappings().first()
        return dict(row) if row is not None else {}

    async def count(self, spec: Specification) -> int:
        statement = sa.select(sa.func.count()).select_from(self._table).where(self._where(spec))
        result = await self._db.execute(statement)
        return int(result.scalar_one())

    async def page(self, spec: Specification, request: PageRequest) -> Page[Entity]:
        check_first(request)
        statement = (
            sa.select(self._table)
            .where(self._where(spec), self._after(request))
            .order_by(*self._order_by(request.sort))
            .limit(request.first + 1)
        )
        return self._page(await self._load(statement), request)

    # --- building blocks -----------------------------------------------------------

    def _where(self, spec: Specification) -> Predicate:
        return compile_spec(spec, self.fields)

    def _sort_field(self, sort: Sort) -> SqlField:
        if sort.field not in self.sort_fields:
            raise ValidationError.single("orderBy", f"cannot sort {self.kind}s by {sort.field}")
        return self.fields[sort.field]

    def _order_by(self, sort: Sort) -> list[sa.ColumnElement[Any]]:
        column = self._sort_field(sort).column
        columns = [self._id] if sort.field == "id" else [column, self._id]
        if sort.direction is Direction.DESC:
            return [c.desc() for c in columns]
        return [c.asc() for c in columns]

    def _after(self, request: PageRequest) -> Predicate:
        """Rows strictly after the cursor in (sort column, id) order."""
        cursor = request.after
        target = self._sort_field(request.sort)
        if cursor is None:
            return sa.true()
        descending = request.sort.direction is Direction.DESC

        def beyond(column: sa.ColumnElement[Any], value: Any) -> Predicate:
            expr: Predicate = column < value if descending else column > value
            return expr

        if request.sort.field == "id":
            return beyond(self._id, cursor.id)
        key = target.decode_cursor_key(cursor.key)
        return sa.or_(
            beyond(target.column, key),
            sa.and_(target.column == key, beyond(self._id, cursor.id)),
        )

    def _cursor(self, entity: Entity, sort: Sort) -> Cursor:
        return Cursor(sort_key(getattr(entity, sort.field)), entity.id)

    def _page(self, fetched: list[Entity], request: PageRequest) -> Page[Entity]:
        visible = fetched[: request.first]
        return Page(
            items=visible,
            cursors=[self._cursor(entity, request.sort) for entity in visible],
            has_next_page=len(fetched) > request.first,
            has_previous_page=request.after is not None,
        )


def _rowcount(result: sa.Result[Any]) -> int:
    # An UPDATE without RETURNING always yields a CursorResult; Result lacks the attribute.
    return int(getattr(result, "rowcount", -1))


def check_first(request: PageRequest) -> None:
    if request.first < 0:
        raise ValidationError.single("first", "must not be negative")
