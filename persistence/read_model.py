"""The read model: one SQL statement per root field of a read plan, the JSON built by Postgres.

Each statement returns the finished JSON text of its root field (correlated subqueries
for the nested levels, a `row_number()` page of `first + 1` rows per parent for
`hasNextPage`), so Python forwards text and never builds objects.

The JSON is compact text concatenated with `||` (arrays with `string_agg`), not built
with `json_build_object`/`json_agg`: Postgres 15 looks up the type of each of their
arguments on every call, a large part of its CPU in the benchmark's nested query. The
text costs less (that statement: p50 1.5 -> 1.1 ms on the 1,000-user seed) and is
compact where `json_build_object` writes `"key" : value` (~15% fewer bytes). Strings
go through `to_json`, so they are escaped as before (non-ASCII kept as UTF-8).

The values are written exactly as the resolver path writes them:

- global ids: standard base64 of `Type:key`, padded (`schema.node.to_global_id`);
- cursors: base64url, unpadded, of the compact JSON `[key,id]` that Python's
  `json.dumps` writes (`domain.paging.Cursor.encode`), non-ASCII text escaped;
- money amounts: decimal strings with exactly two places;
- times: `datetime.isoformat()` of the UTC value (`+00:00`, microseconds only when
  not zero).

Filters and object-level rules are domain specifications compiled by `compile_spec`,
so both paths select the same rows. Postgres only: SQLite's JSON functions could do
the same, but the embedded database keeps the resolver path.

The plan vocabulary comes from `schema.planner.plan`, a module of plain dataclasses
over `domain` types (no GraphQL library): it is the one import from `schema` here,
where `domain` would be its natural home.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import ValidationError
from domain.paging import Direction, PageRequest
from domain.specifications import And, Compare, Not, Or, Specification
from persistence import tables
from persistence.items import ITEM_FIELDS, SqlItemRepository
from persistence.orders import ORDER_FIELDS, SqlOrderRepository
from persistence.specifications import FieldMap, Kind, Predicate, SqlField, compile_spec
from persistence.users import USER_FIELDS, SqlUserRepository
from schema.planner import plan

type SqlText = sa.ColumnElement[Any]  # an SQL expression of type text
# A JSON value as a sequence of pieces, concatenated by `_text`: constant JSON text
# known when building (`str`), and SQL text expressions that are never NULL (an
# expression that may be NULL goes through `_or_null`). Objects nest by splicing their
# pieces into the parent's, so a whole level of the answer is one `||` chain.
type Json = list[str | SqlText]
type Owner = Callable[[sa.FromClause], Predicate]

_TABLES: dict[plan.Entity, sa.Table] = {
    plan.Entity.USER: tables.USERS,
    plan.Entity.ITEM: tables.ITEMS,
    plan.Entity.ORDER: tables.ORDERS,
    plan.Entity.LINE: tables.ORDER_LINES,
}
_FIELDS: dict[plan.Entity, FieldMap] = {
    plan.Entity.USER: USER_FIELDS,
    plan.Entity.ITEM: ITEM_FIELDS,
    plan.Entity.ORDER: ORDER_FIELDS,
}
_SORT_FIELDS: dict[plan.Entity, frozenset[str]] = {
    plan.Entity.USER: SqlUserRepository.sort_fields,
    plan.Entity.ITEM: SqlItemRepository.sort_fields,
    plan.Entity.ORDER: SqlOrderRepository.sort_fields,
}
_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
# Text Python's json.dumps writes unchanged between quotes: printable ASCII but `"` and `\`.
_PLAIN_JSON_TEXT = r"^[ !#-\[\]-~]*$"


def _str(text: str) -> sa.ColumnElement[Any]:
    """A constant SQL string literal (our own constants and GraphQL names only)."""
    return sa.literal_column("'" + text.replace("'", "''") + "'", sa.Text)


def _int(value: int) -> sa.ColumnElement[Any]:
    return sa.literal_column(str(int(value)))


# --- JSON as text ----------------------------------------------------------------------


def _text(value: Json) -> SqlText:
    """The SQL text of a JSON value: its pieces joined by `||`, neighbouring constants
    merged into one literal."""
    merged: list[str | SqlText] = []
    for piece in value:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    parts = [_str(piece) if isinstance(piece, str) else piece for piece in merged]
    return _joined(parts)


# Postgres parses `a || b || c ...` into a left-deep tree and recurses once per operand
# (6,000 operands exceed its default 2 MB stack). Nested objects are spliced into their
# parent's chain, so a chain longer than this is joined as parenthesised halves.
_FLAT_CHAIN = 64


def _joined(parts: list[SqlText]) -> SqlText:
    # A balanced tree, so SQLAlchemy compiles it without recursing once per piece; up to
    # _FLAT_CHAIN parts it renders as one flat chain (`||` is associative).
    if len(parts) == 1:
        return parts[0]
    middle = len(parts) // 2
    left, right = _joined(parts[:middle]), _joined(parts[middle:])
    if len(parts) > _FLAT_CHAIN:
        # An operator binding tighter than any other makes SQLAlchemy parenthesise both.
        return left.op("||", precedence=100, return_type=sa.Text)(right)
    return left.concat(right)


def _constant(text: str) -> Json:
    """A JSON string known when building."""
    return [json.dumps(text, ensure_ascii=False)]


def _string(text: SqlText) -> Json:
    """A JSON string of any text, escaped by Postgres (non-ASCII stays UTF-8)."""
    return [sa.cast(sa.func.to_json(text), sa.Text)]


def _quoted(text: SqlText) -> Json:
    """A JSON string of text that needs no escaping: base64, digits, ISO times, enum names."""
    return ['"', text, '"']


def _scalar(value: sa.ColumnElement[Any]) -> Json:
    """A JSON number or boolean: Postgres writes integers as digits, booleans as `true`/`false`."""
    return [sa.cast(value, sa.Text)]


def _or_null(text: SqlText) -> Json:
    """A JSON text expression that is NULL when there is no value (no row, no cursor)."""
    return [sa.func.coalesce(text, _str("null"))]


def _object(pairs: list[tuple[str, Json]]) -> Json:
    pieces: Json = ["{"]
    for position, (name, value) in enumerate(pairs):
        if not _NAME.match(name):
            raise ValueError(f"not a GraphQL name: {name!r}")
        pieces.append(f'{"," if position else ""}"{name}":')
        pieces.extend(value)
    pieces.append("}")
    return pieces


def _array(
    element: Json, order_by: list[sa.ColumnElement[Any]], where: Predicate | None = None
) -> Json:
    """`json_agg(element ORDER BY ...) FILTER (WHERE ...)`, `[]` when no row is left."""
    listed: SqlText = sa.func.string_agg(_text(element), aggregate_order_by(_str(","), *order_by))
    if where is not None:
        listed = listed.filter(where)
    return ["[", sa.func.coalesce(listed, _str("")), "]"]


def _aliased(fields: FieldMap, table: sa.FromClause) -> dict[str, SqlField]:
    def column(original: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        assert original.key is not None
        return table.c[original.key]

    return {
        name: dataclasses.replace(
            sql_field,
            column=column(sql_field.column),
            currency=column(sql_field.currency) if sql_field.currency is not None else None,
        )
        for name, sql_field in fields.items()
    }


# --- values as the resolver path writes them -------------------------------------------


def iso_timestamp(column: sa.ColumnElement[Any]) -> SqlText:
    """`datetime.isoformat()` of a UTC timestamp."""
    utc = sa.func.timezone(_str("UTC"), column)
    whole = sa.func.to_char(utc, _str('YYYY-MM-DD"T"HH24:MI:SS'))
    fraction = sa.case(
        (sa.func.date_trunc(_str("second"), column) == column, _str("")),
        else_=sa.func.to_char(utc, _str(".US")),
    )
    return sa.func.concat(whole, fraction, _str("+00:00"))


def python_json_string(column: sa.ColumnElement[Any]) -> SqlText:
    """The text as Python's `json.dumps` writes it (ASCII only, `\\uXXXX` escapes)."""
    chars = (
        sa.func.regexp_split_to_table(column, _str(""))
        .table_valued("c", with_ordinality="n")
        .render_derived()
    )
    char, code = chars.c.c, sa.func.ascii(chars.c.c)
    # CAST parenthesises the difference, so `/` and `%` apply to all of it.
    astral = sa.cast(code - _int(0x10000), sa.Integer)
    escaped = sa.case(
        (char == _str('"'), _str('\\"')),
        (char == _str("\\"), _str("\\\\")),
        (char == sa.literal_column("E'\\n'"), _str("\\n")),
        (char == sa.literal_column("E'\\r'"), _str("\\r")),
        (char == sa.literal_column("E'\\t'"), _str("\\t")),
        (char == sa.literal_column("E'\\b'"), _str("\\b")),
        (char == sa.literal_column("E'\\f'"), _str("\\f")),
        (code.between(_int(32), _int(126)), char),
        (
            code < _int(0x10000),
            sa.func.concat(_str("\\u"), sa.func.lpad(sa.func.to_hex(code), _int(4), _str("0"))),
        ),
        # Beyond the BMP, Python writes a UTF-16 surrogate pair.
        else_=sa.func.concat(
            _str("\\u"),
            sa.func.to_hex(_int(0xD800) + astral.op("/")(_int(1024))),
            _str("\\u"),
            sa.func.to_hex(_int(0xDC00) + astral.op("%")(_int(1024))),
        ),
    )
    slow = (
        sa.select(
            sa.func.concat(
                _str('"'),
                # string_agg(x, '' ORDER BY n): the ORDER BY follows the last argument.
                sa.func.string_agg(escaped, aggregate_order_by(_str(""), chars.c.n)),
                _str('"'),
            )
        )
        .select_from(chars)
        .scalar_subquery()
    )
    return sa.case(
        (column.regexp_match(_PLAIN_JSON_TEXT), sa.func.concat(_str('"'), column, _str('"'))),
        else_=slow,
    )


def _base64(text: SqlText) -> SqlText:
    # encode() breaks base64 lines at 76 characters; Python's b64encode does not.
    return sa.func.replace(
        sa.func.encode(sa.func.convert_to(text, _str("UTF8")), _str("base64")),
        sa.literal_column("E'\\n'"),
        _str(""),
    )


def global_id(type_name: str, key: sa.ColumnElement[Any]) -> SqlText:
    """`schema.node.to_global_id`: standard base64 with padding."""
    return _base64(sa.func.concat(_str(f"{type_name}:"), key))


def cursor(fields: FieldMap, row: sa.FromClause, sort_field: str) -> SqlText:
    """`Cursor(sort_key(value), id).encode()`: base64url of `[key,id]`, no padding."""
    ident = row.c.id
    target = fields[sort_field]
    column = target.column
    if sort_field == "id":
        key: SqlText = ident
    elif target.kind in (Kind.TEXT, Kind.EMAIL):
        key = python_json_string(column)
    elif target.kind is Kind.ENUM:  # enum values are plain ASCII words
        key = sa.func.concat(_str('"'), column, _str('"'))
    elif target.kind is Kind.MONEY or target.column.type.python_type is int:
        key = column
    else:  # timestamps
        key = sa.func.concat(_str('"'), iso_timestamp(column), _str('"'))
    raw = sa.func.concat(_str("["), key, _str(","), ident, _str("]"))
    return sa.func.rtrim(sa.func.translate(_base64(raw), _str("+/"), _str("-_")), _str("="))


def money_amount(cents: sa.ColumnElement[Any]) -> SqlText:
    """The decimal string of `Money.amount`: exactly two places."""
    amount = sa.func.round(sa.cast(cents, sa.Numeric) / _int(100), _int(2))
    return sa.cast(amount, sa.Text)


# --- paging, as SqlRepository pages ------------------------------------------------------


def _sort_field(entity: plan.Entity, request: PageRequest) -> str:
    if request.sort.field not in _SORT_FIELDS[entity]:
        kind = entity.value.lower()
        raise ValidationError.single("orderBy", f"cannot sort {kind}s by {request.sort.field}")
    return request.sort.field


def _order_by(
    fields: FieldMap, row: sa.FromClause, sort_field: str, request: PageRequest
) -> list[sa.ColumnElement[Any]]:
    ident = row.c.id
    columns = [ident] if sort_field == "id" else [fields[sort_field].column, ident]
    if request.sort.direction is Direction.DESC:
        return [c.desc() for c in columns]
    return [c.asc() for c in columns]


def _after(
    fields: FieldMap, row: sa.FromClause, sort_field: str, request: PageRequest
) -> Predicate:
    after = request.after
    if after is None:
        return sa.true()
    descending = request.sort.direction is Direction.DESC

    def beyond(column: sa.ColumnElement[Any], value: Any) -> Predicate:
        expr: Predicate = column < value if descending else column > value
        return expr

    if sort_field == "id":
        return beyond(row.c.id, after.id)
    target = fields[sort_field]
    key = target.decode_cursor_key(after.key)
    return sa.or_(
        beyond(target.column, key),
        sa.and_(target.column == key, beyond(row.c.id, after.id)),
    )


# --- the statement builder --------------------------------------------------------------


class _Builder:
    def __init__(self, scope: plan.Scope) -> None:
        self._scope = scope

    def _rule(self, entity: plan.Entity, fields: FieldMap) -> Predicate:
        rule = self._scope.rules.get(entity)
        if rule is None:
            raise ValueError(f"the plan did not name the rule for {entity.value}")
        return compile_spec(rule, fields)

    def root(self, root: plan.Root) -> sa.Select[Any] | None:
        """The statement of one root field; None when its JSON needs no database."""
        if isinstance(root, plan.RootConstant):
            return None
        if isinstance(root, plan.RootConnection):
            return self.connection(root.connection, None, None)
        target = root.target
        key = root.key_value if root.key_value is not None else CALLER
        table = _TABLES[target.entity].alias()
        fields = _aliased(_FIELDS[target.entity], table)
        found = (
            sa.select(_text(self.selection(target, table)))
            .where(table.c.id == key, self._rule(target.entity, fields))
            .scalar_subquery()
        )
        return sa.select(found)  # NULL when hidden or missing: `fetch` writes `null`

    def connection(
        self, connection: plan.Connection, owner: Owner | None, parent: sa.FromClause | None
    ) -> sa.Select[Any]:
        """SELECT of the connection's JSON text (one row, never NULL); correlated to
        `parent` when nested."""
        entity, request = connection.entity, connection.request
        # Two levels down from the parent's SELECT, SQLAlchemy's automatic correlation
        # does not reach: name the parent row explicitly.
        correlated = [parent] if parent is not None else []
        sort_field = _sort_field(entity, request)

        def matching(table: sa.FromClause) -> list[Predicate]:
            fields = _aliased(_FIELDS[entity], table)
            where = [compile_spec(connection.spec, fields), self._rule(entity, fields)]
            if owner is not None:
                where.append(owner(table))
            return where

        table = _TABLES[entity].alias()
        fields = _aliased(_FIELDS[entity], table)
        order_by = _order_by(fields, table, sort_field, request)
        position = sa.func.row_number().over(order_by=order_by).label("position")
        page = (
            sa.select(table, position)
            .where(*matching(table), _after(fields, table, sort_field, request))
            .correlate(*correlated)
            .order_by(*order_by)
            .limit(request.first + 1)
            .subquery()
        )
        in_page = page.c.position <= _int(request.first)
        page_fields = _aliased(_FIELDS[entity], page)
        edge_cursor = cursor(page_fields, page, sort_field)
        uses_page = False
        pairs: list[tuple[str, Json]] = []
        for part in connection.fields:
            if isinstance(part, plan.Constant):
                pairs.append((part.key, _constant(part.text)))
            elif isinstance(part, plan.TotalCount):
                counted = _TABLES[entity].alias()
                total = (
                    sa.select(sa.func.count())
                    .select_from(counted)
                    .where(*matching(counted))
                    .correlate(*correlated)
                )
                pairs.append((part.key, _scalar(total.scalar_subquery())))
            elif isinstance(part, plan.Edges):
                uses_page = True
                edge = self.edge(part, page, edge_cursor)
                pairs.append((part.key, _array(edge, [page.c.position], in_page)))
            else:
                info: list[tuple[str, Json]] = []
                for info_part in part.fields:
                    if isinstance(info_part, plan.Constant):
                        info.append((info_part.key, _constant(info_part.text)))
                        continue
                    info_key, kind = info_part
                    if kind is plan.PageInfoPart.HAS_PREVIOUS_PAGE:
                        info.append((info_key, ["true" if request.after else "false"]))
                        continue
                    uses_page = True
                    if kind is plan.PageInfoPart.HAS_NEXT_PAGE:
                        info.append((info_key, _scalar(sa.func.count() > _int(request.first))))
                    else:
                        ascending = kind is plan.PageInfoPart.START_CURSOR
                        ordering = page.c.position if ascending else page.c.position.desc()
                        cursors = sa.func.array_agg(
                            aggregate_order_by(edge_cursor, ordering),
                            type_=postgresql.ARRAY(sa.Text),
                        ).filter(in_page)
                        # NULL on an empty page.
                        first = sa.type_coerce(cursors, postgresql.ARRAY(sa.Text))[1]
                        info.append((info_key, _or_null(_text(_quoted(first)))))
                pairs.append((part.key, _object(info)))
        built = sa.select(_text(_object(pairs)))
        return built.select_from(page) if uses_page else built

    def edge(self, edges: plan.Edges, page: sa.FromClause, edge_cursor: SqlText) -> Json:
        pairs: list[tuple[str, Json]] = []
        for part in edges.fields:
            if isinstance(part, plan.Constant):
                pairs.append((part.key, _constant(part.text)))
            elif isinstance(part, plan.EdgeCursor):
                pairs.append((part.key, _quoted(edge_cursor)))
            else:
                pairs.append((part.key, self.selection(part.target, page)))
        return _object(pairs)

    def selection(self, selection: plan.Selection, row: sa.FromClause) -> Json:
        return _object([(f.key, self.field(selection.entity, f, row)) for f in selection.fields])

    def field(self, entity: plan.Entity, field: plan.Field, row: sa.FromClause) -> Json:
        if isinstance(field, plan.Value):
            return self.value(entity, field.column, row)
        if isinstance(field, plan.Constant):
            return _constant(field.text)
        if isinstance(field, plan.GlobalId):
            return _quoted(global_id(field.type_name, row.c.id))
        if isinstance(field, plan.Timestamp):
            return _quoted(iso_timestamp(row.c[field.column]))
        if isinstance(field, plan.EnumName):
            # Enum values are plain ASCII words (a CHECK constraint lists them).
            return _quoted(sa.func.upper(row.c[field.column]))
        if isinstance(field, plan.RoleNames):
            return [self.roles(row)]
        if isinstance(field, plan.Email):
            if field.everyone:
                return _string(row.c.email)
            if self._scope.user_id is None:
                return ["null"]
            mine = row.c.id == CALLER
            return [sa.case((mine, _text(_string(row.c.email))), else_=_str("null"))]
        if isinstance(field, plan.Money):
            return self.money(field, row)
        if isinstance(field, plan.Child):
            return self.child(field, row)
        return [self.nested_connection(field, row)]

    @staticmethod
    def value(entity: plan.Entity, column: str, row: sa.FromClause) -> Json:
        """A stored value with the JSON type of its column: a number, boolean or string."""
        stored = _TABLES[entity].c[column]
        found = row.c[column]
        kind = stored.type.python_type
        if kind in (int, bool):
            value = _scalar(found)
        elif kind is str:
            value = _string(found)
        else:
            raise ValueError(f"no JSON writing for {stored} of {kind.__name__}")
        return _or_null(_text(value)) if stored.nullable else value

    def roles(self, row: sa.FromClause) -> SqlText:
        names = (
            sa.func.unnest(sa.func.string_to_array(row.c.roles, _str(",")))
            .table_valued("role")
            .render_derived()
        )
        listed = _array(_string(sa.func.upper(names.c.role)), [names.c.role])
        return (
            sa.select(_text(listed))
            .select_from(names)
            .where(names.c.role != _str(""))
            .scalar_subquery()
        )

    def money(self, money: plan.Money, row: sa.FromClause) -> Json:
        cents: sa.ColumnElement[Any]
        currency: sa.ColumnElement[Any]
        if money.source is plan.MoneySource.PRICE:
            cents, currency = row.c.price_cents, row.c.currency
        elif money.source is plan.MoneySource.UNIT_PRICE:
            cents, currency = row.c.unit_price_cents, row.c.currency
        elif money.source is plan.MoneySource.SUBTOTAL:
            cents, currency = row.c.unit_price_cents * row.c.quantity, row.c.currency
        else:
            return self.order_total(money, row)
        return self.money_object(money, cents, currency)

    def money_object(
        self, money: plan.Money, cents: sa.ColumnElement[Any], currency: sa.ColumnElement[Any]
    ) -> Json:
        pairs: list[tuple[str, Json]] = []
        for key, part in money.parts:
            if part is plan.MoneyPart.AMOUNT:
                pairs.append((key, _quoted(money_amount(cents))))  # a string, as Money.amount
            elif part is plan.MoneyPart.CURRENCY:
                pairs.append((key, _string(sa.cast(currency, sa.Text))))
            else:
                pairs.append((key, _constant("Money")))
        return _object(pairs)

    def order_total(self, money: plan.Money, row: sa.FromClause) -> Json:
        """`Order.total`: the sum of the subtotals in the first line's currency
        (`domain.money.total`; zero USD without lines), from one scan of the lines."""
        lines = tables.ORDER_LINES.alias()
        cents = sa.func.coalesce(sa.func.sum(lines.c.unit_price_cents * lines.c.quantity), _int(0))
        currencies = sa.func.array_agg(
            aggregate_order_by(lines.c.currency, lines.c.id), type_=postgresql.ARRAY(sa.Text)
        )
        currency = sa.func.coalesce(
            sa.type_coerce(currencies, postgresql.ARRAY(sa.Text))[1], _str("USD")
        )
        # Aggregated first, so there is one row whatever the selection (even `{}`).
        totals = (
            sa.select(cents.label("cents"), currency.label("currency"))
            .where(lines.c.order_id == row.c.id)
            .correlate(row)
            .subquery()
        )
        money_json = _text(self.money_object(money, totals.c.cents, totals.c.currency))
        return [sa.select(money_json).select_from(totals).scalar_subquery()]

    def child(self, child: plan.Child, row: sa.FromClause) -> Json:
        target = child.target
        table = _TABLES[target.entity].alias()
        if child.link is plan.Link.ORDER_LINES:
            listed = _array(self.selection(target, table), [table.c.id])
            return [sa.select(_text(listed)).where(table.c.order_id == row.c.id).scalar_subquery()]
        fields = _aliased(_FIELDS[target.entity], table)
        parent_key = row.c.item_id if child.link is plan.Link.LINE_ITEM else row.c.customer_id
        found = (
            sa.select(_text(self.selection(target, table)))
            .where(table.c.id == parent_key, self._rule(target.entity, fields))
            .scalar_subquery()
        )
        return _or_null(found)  # a hidden object is null

    def nested_connection(self, nested: plan.NestedConnection, row: sa.FromClause) -> SqlText:
        def owned(table: sa.FromClause) -> Predicate:
            owns: Predicate = table.c.customer_id == row.c.id
            return owns

        return self.connection(nested.connection, owned, row).scalar_subquery()


def statements(built: plan.Plan, scope: plan.Scope) -> list[tuple[str, sa.Select[Any] | str]]:
    """Each root field's statement, or its JSON when no database is needed.

    The caller's id is left as the `caller_id` parameter (see `parameterized`).
    Raises ValidationError where the resolver path would refuse an argument.
    """
    builder = _Builder(scope)
    result: list[tuple[str, sa.Select[Any] | str]] = []
    for root in built.roots:
        statement = builder.root(root)
        if statement is None:
            assert isinstance(root, plan.RootConstant)
            result.append((root.key, root.json))
        else:
            result.append((root.key, statement))
    return result


# The caller's id in every statement; its value comes with each execution, so one
# statement serves every caller with the same roles.
CALLER = sa.bindparam("caller_id", type_=sa.Integer)


def parameterized(spec: Specification, user_id: int | None) -> Specification:
    """`spec` with the caller's id replaced by the `caller_id` parameter.

    Only for the object-level rules, whose values are the caller's id (or booleans).
    """
    if isinstance(spec, Compare):
        if user_id is not None and type(spec.value) is int and spec.value == user_id:
            return Compare(spec.field, spec.op, CALLER)
        return spec
    if isinstance(spec, And):
        return And(tuple(parameterized(part, user_id) for part in spec.parts))
    if isinstance(spec, Or):
        return Or(tuple(parameterized(part, user_id) for part in spec.parts))
    if isinstance(spec, Not):
        return Not(parameterized(spec.part, user_id))
    return spec


type Statements = list[tuple[str, sa.Select[Any] | str]]
type StatementKey = tuple[plan.Plan, bool, frozenset[tuple[plan.Entity, Specification]]]


class SqlReadModel:
    """Runs read plans on Postgres; every root field's JSON comes back as text.

    Statements are kept per plan and rules (with the caller's id as a parameter):
    building one costs far more Python than running it.
    """

    def __init__(self, engine: AsyncEngine, cache_size: int = 1_000) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("the read model builds its JSON with Postgres functions")
        # Autocommit, on the same pool: one SELECT needs no transaction, and each
        # statement has its own snapshot under READ COMMITTED either way. It spares the
        # BEGIN and ROLLBACK round trips the driver sends around every read (and ~10%
        # of the Python of a prepared read by id).
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._statements: OrderedDict[StatementKey, Statements] = OrderedDict()
        self._cache_size = cache_size

    def _prepared(self, built: plan.Plan, scope: plan.Scope) -> Statements:
        rules = {entity: parameterized(rule, scope.user_id) for entity, rule in scope.rules.items()}
        key: StatementKey = (built, scope.user_id is None, frozenset(rules.items()))
        found = self._statements.get(key)
        if found is not None:
            self._statements.move_to_end(key)
            return found
        prepared = statements(built, plan.Scope(scope.user_id, rules))
        self._statements[key] = prepared
        if len(self._statements) > self._cache_size:
            self._statements.popitem(last=False)
        return prepared

    async def fetch(self, built: plan.Plan, scope: plan.Scope) -> dict[str, str]:
        """The JSON text of each root field, by response key; raises ValidationError."""
        planned = self._prepared(built, scope)
        parameters = {"caller_id": scope.user_id}
        answers = {key: statement for key, statement in planned if isinstance(statement, str)}
        if len(answers) == len(planned):
            # Constants only (`__typename`, `me` for an anonymous caller): no connection.
            return {key: answers[key] for key, _ in planned}
        async with self._engine.connect() as conn:
            for key, statement in planned:
                if not isinstance(statement, str):
                    text = (await conn.execute(statement, parameters)).scalar_one()
                    answers[key] = "null" if text is None else str(text)
        # In the order of the selection, as the executor writes the keys.
        return {key: answers[key] for key, _ in planned}
