"""JSON written as SQL text: the pieces the read model concatenates, on any dialect.

A value is a list of pieces: constant JSON text known when building (`str`) and SQL
text expressions that are never NULL (one that may be NULL goes through `or_null`).
Objects nest by splicing their pieces into the parent's, so a whole level of an
answer is one `||` chain, which Postgres and SQLite both run without building JSON
values (see `persistence.read_model` for why that is faster than their JSON
functions).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Protocol

import sqlalchemy as sa

from persistence.specifications import Predicate

type SqlText = sa.ColumnElement[Any]  # an SQL expression of type text
type Json = list[str | SqlText]

_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")


def literal(text: str) -> SqlText:
    """A constant SQL string literal (our own constants and GraphQL names only)."""
    return sa.literal_column("'" + text.replace("'", "''") + "'", sa.Text)


def integer(value: int) -> sa.ColumnElement[Any]:
    return sa.literal_column(str(int(value)))


def text(value: Json) -> SqlText:
    """The SQL text of a JSON value: its pieces joined by `||`, neighbouring constants
    merged into one literal."""
    merged: list[str | SqlText] = []
    for piece in value:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    return joined([literal(piece) if isinstance(piece, str) else piece for piece in merged])


# Postgres parses `a || b || c ...` into a left-deep tree and recurses once per operand
# (6,000 operands exceed its default 2 MB stack); SQLite's parser has a depth limit
# too. Nested objects are spliced into their parent's chain, so a chain longer than
# this is joined as parenthesised halves.
_FLAT_CHAIN = 64


def joined(parts: list[SqlText]) -> SqlText:
    """`a || b || ...` as a balanced tree, so SQLAlchemy compiles it without recursing
    once per piece; up to _FLAT_CHAIN parts it renders as one flat chain (`||` is
    associative)."""
    if len(parts) == 1:
        return parts[0]
    middle = len(parts) // 2
    left, right = joined(parts[:middle]), joined(parts[middle:])
    if len(parts) > _FLAT_CHAIN:
        # An operator binding tighter than any other makes SQLAlchemy parenthesise both.
        return left.op("||", precedence=100, return_type=sa.Text)(right)
    return left.concat(right)


def constant(value: str) -> Json:
    """A JSON string known when building."""
    return [json.dumps(value, ensure_ascii=False)]


def quoted(value: SqlText) -> Json:
    """A JSON string of text that needs no escaping: base64, digits, ISO times, enum names."""
    return ['"', value, '"']


def number(value: sa.ColumnElement[Any]) -> Json:
    """A JSON number: both databases write integers as plain digits."""
    return [sa.cast(value, sa.Text)]


def or_null(value: SqlText) -> Json:
    """A JSON text expression that is NULL when there is no value (no row, no cursor)."""
    return [sa.func.coalesce(value, literal("null"))]


def json_object(pairs: list[tuple[str, Json]]) -> Json:
    pieces: Json = ["{"]
    for position, (name, value) in enumerate(pairs):
        if not _NAME.match(name):
            raise ValueError(f"not a GraphQL name: {name!r}")
        pieces.append(f'{"," if position else ""}"{name}":')
        pieces.extend(value)
    pieces.append("}")
    return pieces


def json_array(listed: SqlText) -> Json:
    """An array of comma-joined elements; `listed` is NULL when there is none."""
    return ["[", sa.func.coalesce(listed, literal("")), "]"]


class JsonDialect(Protocol):
    """What differs between databases in writing the resolver path's values as JSON text."""

    # Whether an aggregate takes its own ORDER BY; without it, the rows it reads must
    # come from a subquery that orders them.
    ordered_aggregates: bool

    def string(self, value: SqlText) -> Json:
        """A JSON string of any text (non-ASCII kept as UTF-8, as the responses write it)."""
        ...

    def ascii_string(self, value: SqlText) -> SqlText:
        """A JSON string as Python's `json.dumps` writes it: ASCII only, `\\uXXXX` escapes."""
        ...

    def boolean(self, value: sa.ColumnElement[Any]) -> SqlText:
        """`true` or `false`; NULL for NULL."""
        ...

    def listed(
        self, element: SqlText, order_by: list[sa.ColumnElement[Any]], where: Predicate | None
    ) -> SqlText:
        """The aggregate of the elements joined by commas; NULL when no row is left."""
        ...

    def first(
        self, value: SqlText, position: sa.ColumnElement[Any], *, last: bool, where: Predicate
    ) -> SqlText:
        """The aggregate of the value at the lowest (or highest) position; NULL without rows."""
        ...

    def iso_timestamp(self, column: sa.ColumnElement[Any]) -> SqlText:
        """`datetime.isoformat()` of a stored UTC time (`+00:00`, microseconds if not 0)."""
        ...

    def base64(self, value: SqlText, *, one_line: bool = False) -> SqlText:
        """Standard base64 of the UTF-8 text, padded, on one line; `one_line`: the text
        is known to be at most 56 bytes, which base64 writes on one line anyway."""
        ...

    def base64url(self, value: SqlText) -> SqlText:
        """URL-safe base64 of the UTF-8 text, without padding."""
        ...

    def money_amount(self, cents: sa.ColumnElement[Any]) -> SqlText:
        """The decimal string of `Money.amount`: exactly two places."""
        ...

    def role_names(self, roles: sa.ColumnElement[Any]) -> SqlText:
        """The JSON array of the GraphQL `Role` names in a stored roles column."""
        ...

    def first_in_scan(
        self,
        column: sa.ColumnElement[Any],
        position: sa.ColumnElement[Any],
        again: Callable[[], tuple[sa.FromClause, list[Predicate]]],
    ) -> sa.ColumnElement[Any]:
        """`column` of the first row by `position` (its id), NULL without rows, in a
        SELECT aggregating those rows; `again()` gives them anew (a fresh alias and its
        conditions) to a dialect that reads them a second time."""
        ...
