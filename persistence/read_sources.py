"""A declared entity's rows for the read model, from the plan's data alone.

A `domain.read_plan.Source` names a table and its columns with their stored types;
this module turns it into a table clause, the field map specifications compile
against, and the JSON of one stored value. The types are those
`persistence.entities` gives the declared tables, so bound values (a datetime in a
cursor, say) are converted as the repositories convert them.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import sqlalchemy as sa

from domain import read_plan as plan
from domain.model import FieldType, Through
from persistence import tables
from persistence.json_text import Json, JsonDialect, number, or_null, quoted, text
from persistence.specifications import FieldMap, Kind, SqlField

_TYPES: dict[FieldType, sa.types.TypeEngine[Any]] = {
    FieldType.STR: sa.Text(),
    FieldType.TEXT: sa.Text(),
    FieldType.EMAIL: sa.Text(),
    FieldType.INT: sa.BigInteger(),
    FieldType.BOOL: sa.Boolean(),
    FieldType.DECIMAL: sa.Numeric(18, 6),
    FieldType.DATETIME: tables.UtcDateTime(),
    FieldType.REF: sa.Integer(),
    FieldType.ENUM_SET: sa.Text(),
    FieldType.ENUM: sa.Text(),
}
_KINDS: dict[FieldType, Kind] = {
    FieldType.STR: Kind.TEXT,
    FieldType.TEXT: Kind.TEXT,
    FieldType.EMAIL: Kind.EMAIL,
    FieldType.MONEY: Kind.MONEY,
    FieldType.ENUM: Kind.ENUM,
}


@cache
def source_table(source: plan.Source) -> sa.TableClause:
    """The table clause of `source` (made once per source and process)."""
    columns: list[sa.ColumnClause[Any]] = [sa.column("id", sa.Integer())]
    for column in source.columns:
        if column.type is FieldType.MONEY:
            cents, currency = column.columns
            columns += [sa.column(cents, sa.BigInteger()), sa.column(currency, sa.CHAR(3))]
        else:
            columns.append(sa.column(column.columns[0], _TYPES[column.type]))
    return sa.table(source.table, *columns)


@cache
def association_table(through: Through) -> sa.TableClause:
    """The two columns of a many-to-many's association table that link its rows."""
    return sa.table(
        through.table,
        sa.column(through.key, sa.Integer()),
        sa.column(through.target_key, sa.Integer()),
    )


def source_fields(source: plan.Source, row: sa.FromClause) -> FieldMap:
    """How specifications and sorts on `source` compile against `row` (an alias of its
    table, or a subquery selecting its columns)."""
    fields: dict[str, SqlField] = {"id": SqlField(row.c.id)}
    for column in source.columns:
        kind = _KINDS.get(column.type, Kind.PLAIN)
        currency = row.c[column.columns[1]] if column.type is FieldType.MONEY else None
        fields[column.name] = SqlField(
            row.c[column.columns[0]], kind, currency=currency, nullable=column.nullable
        )
    return fields


def stored_json(
    stored: plan.Stored, row: sa.FromClause, dialect: JsonDialect, global_id: Any
) -> Json:
    """A stored value as the resolvers write it; `global_id(type_name, key)` writes ids."""
    column = stored.column
    found = row.c[column.columns[0]]
    value: Json
    match column.type:
        case FieldType.STR | FieldType.TEXT | FieldType.EMAIL:
            value = dialect.string(found)
        case FieldType.INT:
            value = number(found)
        case FieldType.BOOL:
            value = [dialect.boolean(found)]
        case FieldType.DATETIME:
            value = quoted(dialect.iso_timestamp(found))
        case FieldType.ENUM_SET:
            # Stored as the members' values, sorted and comma-separated: the JSON list of
            # their GraphQL names (the values upper-cased) in the order the resolver lists.
            value = [dialect.role_names(found)]
        case FieldType.ENUM:
            # A StrEnum's values are the GraphQL names lower-cased (the planner checks).
            value = quoted(sa.func.upper(found))
        case FieldType.REF:
            assert stored.target is not None
            value = quoted(global_id(stored.target, found))
        case _:
            raise ValueError(f"no JSON writing for {column.type} ({column.name})")
    return or_null(text(value)) if column.nullable else value
