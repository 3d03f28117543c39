"""Writing values as JSON text on SQLite: `json_quote`, `group_concat`, and three
Python functions where SQLite has nothing to offer.

SQLite has no base64 and no way to write text ASCII-only as Python's `json.dumps`
does; `register_functions` adds those to each connection (see
`persistence.database`). It also has no ORDER BY inside aggregates before 3.44 (this
machine's is 3.40): `group_concat` reads its rows in the order of the subquery they
come from. SQLite keeps that order when the only thing reading the subquery is an
aggregate other than count/min/max: its flattener does not merge an ordered subquery
into an aggregate query, and its omit-ORDER-BY optimisation leaves the ORDER BY of a
lone FROM-clause subquery whose outer query has none. The planner's equivalence tests
would see a changed order (pages sorted by name, price and time, both directions).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from persistence.json_text import Json, SqlText, integer, literal
from persistence.specifications import Predicate

BASE64 = "gw_base64"
BASE64URL = "gw_base64url"
ASCII_JSON = "gw_ascii_json"

# Positions are at most a page (`first + 1` <= 101 rows): ten digits sort as numbers.
_POSITION_DIGITS = 10


def _base64(value: str | None) -> str | None:
    return None if value is None else base64.b64encode(value.encode()).decode("ascii")


def _base64url(value: str | None) -> str | None:
    if value is None:
        return None
    return base64.urlsafe_b64encode(value.encode()).decode("ascii").rstrip("=")


def _ascii_json(value: str | None) -> str | None:
    return None if value is None else json.dumps(value)


def register_functions(connection: Any) -> None:
    """Add the read model's functions to a SQLite DBAPI connection (sqlite3's, or
    SQLAlchemy's adapter over aiosqlite, which has the same `create_function`)."""
    for name, function in ((BASE64, _base64), (BASE64URL, _base64url), (ASCII_JSON, _ascii_json)):
        connection.create_function(name, 1, function, deterministic=True)


class SqliteJson:
    ordered_aggregates = False

    def string(self, value: SqlText) -> Json:
        # json_quote escapes exactly as Python does: `"`, `\`, \b \f \n \r \t, other
        # control characters as \u00XX, the rest kept as UTF-8.
        return [sa.func.json_quote(value)]

    def ascii_string(self, value: SqlText) -> SqlText:
        return sa.Function(ASCII_JSON, value, type_=sa.Text)

    def boolean(self, value: sa.ColumnElement[Any]) -> SqlText:
        # SQLite's booleans are the integers 0 and 1.
        return sa.case((value, literal("true")), (sa.not_(value), literal("false")))

    def listed(
        self, element: SqlText, order_by: list[sa.ColumnElement[Any]], where: Predicate | None
    ) -> SqlText:
        # The caller reads the rows from a subquery ordered by `order_by`.
        listed: SqlText = sa.func.group_concat(element, literal(","))
        return listed if where is None else listed.filter(where)

    def first(
        self, value: SqlText, position: sa.ColumnElement[Any], *, last: bool, where: Predicate
    ) -> SqlText:
        # No ordered aggregate: the smallest (largest) value prefixed by its
        # zero-padded position, the prefix cut off again.
        width = integer(_POSITION_DIGITS)
        keyed = sa.func.printf(literal(f"%0{_POSITION_DIGITS}d"), position).concat(value)
        chosen = (sa.func.max(keyed) if last else sa.func.min(keyed)).filter(where)
        return sa.func.substr(chosen, width + integer(1))

    def iso_timestamp(self, column: sa.ColumnElement[Any]) -> SqlText:
        # SQLAlchemy stores `YYYY-MM-DD HH:MM:SS.ffffff` (naive UTC, see UtcDateTime).
        def part(start: int, length: int) -> SqlText:
            # Typed as text here, not by coercing `column`: that would drop its own
            # bind processing (a datetime parameter would reach the driver unconverted).
            return sa.func.substr(column, integer(start), integer(length), type_=sa.Text)

        whole = part(1, 10).concat(literal("T")).concat(part(12, 8))
        fraction = sa.case(
            (part(21, 6).in_([literal(""), literal("000000")]), literal("")),
            else_=part(20, 7),
        )
        return whole.concat(fraction).concat(literal("+00:00"))

    def base64(self, value: SqlText, *, one_line: bool = False) -> SqlText:
        return sa.Function(BASE64, value, type_=sa.Text)

    def base64url(self, value: SqlText) -> SqlText:
        return sa.Function(BASE64URL, value, type_=sa.Text)

    def money_amount(self, cents: sa.ColumnElement[Any]) -> SqlText:
        # Integer arithmetic: exact for any amount, unlike printf('%.2f', cents / 100.0).
        sign = sa.case((cents < integer(0), literal("-")), else_=literal(""))
        size = sa.func.abs(cents)
        digits = sa.func.printf(literal("%d.%02d"), size / integer(100), size % integer(100))
        return sign.concat(digits)

    def role_names(self, roles: sa.ColumnElement[Any]) -> SqlText:
        # `tables.encode_roles` stores the role values sorted, comma-separated, plain
        # lowercase words: the JSON array is the same text with quotes around each.
        names = literal('"').concat(
            sa.func.replace(sa.func.upper(roles), literal(","), literal('","'))
        )
        listed = sa.case((roles == literal(""), literal("")), else_=names.concat(literal('"')))
        return literal("[").concat(listed).concat(literal("]"))

    def first_in_scan(
        self,
        column: sa.ColumnElement[Any],
        position: sa.ColumnElement[Any],
        again: Callable[[], tuple[sa.FromClause, list[Predicate]]],
    ) -> sa.ColumnElement[Any]:
        # `first` pads positions to ten digits, which an id may pass: read the rows again.
        rows, where = again()
        assert column.key is not None
        assert position.key is not None
        return (
            sa.select(rows.c[column.key])
            .where(*where)
            .order_by(rows.c[position.key])
            .limit(1)
            .scalar_subquery()
        )
