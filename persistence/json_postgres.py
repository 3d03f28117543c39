"""Writing values as JSON text on Postgres: its own functions do all of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by

from persistence.json_text import Json, SqlText, integer, literal
from persistence.specifications import Predicate

# Text Python's json.dumps writes unchanged between quotes: printable ASCII but `"` and `\`.
_PLAIN_JSON_TEXT = r"^[ !#-\[\]-~]*$"
_NEWLINE: SqlText = sa.literal_column("E'\\n'")
_CENT = sa.literal_column("0.01", sa.Numeric)


class PostgresJson:
    ordered_aggregates = True

    def string(self, value: SqlText) -> Json:
        return [sa.cast(sa.func.to_json(value), sa.Text)]

    def ascii_string(self, value: SqlText) -> SqlText:
        return python_json_string(value)

    def boolean(self, value: sa.ColumnElement[Any]) -> SqlText:
        return sa.cast(value, sa.Text)  # `true` / `false`

    def listed(
        self, element: SqlText, order_by: list[sa.ColumnElement[Any]], where: Predicate | None
    ) -> SqlText:
        listed: SqlText = sa.func.string_agg(element, aggregate_order_by(literal(","), *order_by))
        return listed if where is None else listed.filter(where)

    def first(
        self, value: SqlText, position: sa.ColumnElement[Any], *, last: bool, where: Predicate
    ) -> SqlText:
        ordering = position.desc() if last else position
        values = sa.func.array_agg(
            aggregate_order_by(value, ordering), type_=postgresql.ARRAY(sa.Text)
        ).filter(where)
        return sa.type_coerce(values, postgresql.ARRAY(sa.Text))[1]

    def iso_timestamp(self, column: sa.ColumnElement[Any]) -> SqlText:
        utc = sa.func.timezone(literal("UTC"), column)
        whole = sa.func.to_char(utc, literal('YYYY-MM-DD"T"HH24:MI:SS'))
        fraction = sa.case(
            (sa.func.date_trunc(literal("second"), column) == column, literal("")),
            else_=sa.func.to_char(utc, literal(".US")),
        )
        return sa.func.concat(whole, fraction, literal("+00:00"))

    def base64(self, value: SqlText, *, one_line: bool = False) -> SqlText:
        encoded = sa.func.encode(sa.func.convert_to(value, literal("UTF8")), literal("base64"))
        if one_line:
            return encoded
        # encode() breaks base64 lines at 76 characters; Python's b64encode does not.
        return sa.func.replace(encoded, _NEWLINE, literal(""))

    def base64url(self, value: SqlText) -> SqlText:
        urlsafe = sa.func.translate(self.base64(value), literal("+/"), literal("-_"))
        return sa.func.rtrim(urlsafe, literal("="))

    def money_amount(self, cents: sa.ColumnElement[Any]) -> SqlText:
        # A product's scale is the sum of its factors' scales: whole cents times 0.01 have
        # exactly two places, without numeric division and rounding (cheaper: see
        # docs/benchmarks/design-notes.md, "Page size as a literal").
        return sa.cast(cents * _CENT, sa.Text)

    def role_names(self, roles: sa.ColumnElement[Any]) -> SqlText:
        names = (
            sa.func.unnest(sa.func.string_to_array(roles, literal(",")))
            .table_valued("role")
            .render_derived()
        )
        element = sa.cast(sa.func.to_json(sa.func.upper(names.c.role)), sa.Text)
        listed = sa.func.coalesce(self.listed(element, [names.c.role], None), literal(""))
        return (
            sa.select(literal("[").concat(listed).concat(literal("]")))
            .select_from(names)
            .where(names.c.role != literal(""))
            .scalar_subquery()
        )

    def first_in_scan(
        self,
        column: sa.ColumnElement[Any],
        position: sa.ColumnElement[Any],
        again: Callable[[], tuple[sa.FromClause, list[Predicate]]],
    ) -> sa.ColumnElement[Any]:
        # From the same scan of the rows as their aggregate.
        return self.first(column, position, last=False, where=sa.true())


def python_json_string(column: sa.ColumnElement[Any]) -> SqlText:
    """The text as Python's `json.dumps` writes it (ASCII only, `\\uXXXX` escapes)."""
    chars = (
        sa.func.regexp_split_to_table(column, literal(""))
        .table_valued("c", with_ordinality="n")
        .render_derived()
    )
    char, code = chars.c.c, sa.func.ascii(chars.c.c)
    # CAST parenthesises the difference, so `/` and `%` apply to all of it.
    astral = sa.cast(code - integer(0x10000), sa.Integer)
    escaped = sa.case(
        (char == literal('"'), literal('\\"')),
        (char == literal("\\"), literal("\\\\")),
        (char == _NEWLINE, literal("\\n")),
        (char == sa.literal_column("E'\\r'"), literal("\\r")),
        (char == sa.literal_column("E'\\t'"), literal("\\t")),
        (char == sa.literal_column("E'\\b'"), literal("\\b")),
        (char == sa.literal_column("E'\\f'"), literal("\\f")),
        (code.between(integer(32), integer(126)), char),
        (
            code < integer(0x10000),
            sa.func.concat(
                literal("\\u"), sa.func.lpad(sa.func.to_hex(code), integer(4), literal("0"))
            ),
        ),
        # Beyond the BMP, Python writes a UTF-16 surrogate pair.
        else_=sa.func.concat(
            literal("\\u"),
            sa.func.to_hex(integer(0xD800) + astral.op("/")(integer(1024))),
            literal("\\u"),
            sa.func.to_hex(integer(0xDC00) + astral.op("%")(integer(1024))),
        ),
    )
    slow = (
        sa.select(
            sa.func.concat(
                literal('"'),
                # string_agg(x, '' ORDER BY n): the ORDER BY follows the last argument.
                sa.func.string_agg(escaped, aggregate_order_by(literal(""), chars.c.n)),
                literal('"'),
            )
        )
        .select_from(chars)
        .scalar_subquery()
    )
    return sa.case(
        (
            column.regexp_match(_PLAIN_JSON_TEXT),
            sa.func.concat(literal('"'), column, literal('"')),
        ),
        else_=slow,
    )
