"""The read model: one SQL statement per root field of a plan, the JSON built by the database.

Each statement returns the finished JSON text of its root field (correlated subqueries
for the nested levels, a `row_number()` page of `first + 1` rows per parent for
`hasNextPage`), so Python forwards text and never builds objects. It runs on Postgres
and on the embedded SQLite alike; what differs between them (escaping, base64, times,
ordered aggregates) is a `JsonDialect` (`persistence.json_postgres`,
`persistence.json_sqlite`).

The JSON is compact text concatenated with `||` (arrays with `string_agg` or
`group_concat`), not built with `json_build_object`/`json_agg`, whose per-call type
lookups cost Postgres more (docs/benchmarks/design-notes.md, "Read model"). Strings go
through the database's own JSON quoting (`to_json`, `json_quote`), non-ASCII kept as
UTF-8.

The values are written exactly as the resolver path writes them:

- global ids: standard base64 of `Type:key`, padded (`schema.node.to_global_id`);
- cursors: base64url, unpadded, of the compact JSON `[key,id]` that Python's
  `json.dumps` writes (`domain.paging.Cursor.encode`), non-ASCII text escaped;
- money amounts: decimal strings with exactly two places;
- times: `datetime.isoformat()` of the UTC value (`+00:00`, microseconds only when
  not zero).

Filters and object-level rules are domain specifications compiled by `compile_spec`,
so both paths select the same rows.

The plan vocabulary is `domain.read_plan`, plain dataclasses the planner (`schema`)
produces and this module consumes; neither imports the other.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain import read_plan as plan
from domain.errors import ValidationError
from domain.model import FieldType
from domain.paging import Direction, PageRequest
from domain.specifications import And, Compare, Not, Or, Specification
from persistence.availability import outage_of
from persistence.coalesced_reads import CoalescedReads
from persistence.database import NO_TRANSACTION
from persistence.driver_reads import DriverReads, DriverStatement, compile_for_driver
from persistence.errors import domain_error_for, out_of_range
from persistence.json_postgres import PostgresJson
from persistence.json_sqlite import SqliteJson
from persistence.json_text import (
    Json,
    JsonDialect,
    SqlText,
    constant,
    integer,
    json_array,
    json_object,
    literal,
    number,
    or_null,
    quoted,
    text,
)
from persistence.read_sources import association_table, source_fields, source_table, stored_json
from persistence.specifications import FieldMap, Kind, Predicate, compile_spec

type Owner = Callable[[sa.FromClause], Predicate]


def _table(entity: plan.Source) -> sa.FromClause:
    """A fresh alias of the entity's table, from the plan's data."""
    return source_table(entity).alias()


def _fields(entity: plan.Source, row: sa.FromClause) -> FieldMap:
    return source_fields(entity, row)


# --- paging, as SqlRepository pages ------------------------------------------------------


def _sort_field(entity: plan.Source, request: PageRequest) -> str:
    if request.sort.field not in entity.sort_fields:
        kind = plan.rule_name(entity).lower()
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
    def __init__(self, scope: plan.Scope, dialect: JsonDialect) -> None:
        self._scope = scope
        self._sql = dialect

    def _rule(self, entity: plan.Source, fields: FieldMap) -> Predicate:
        name = plan.rule_name(entity)
        rule = self._scope.rules.get(name)
        if rule is None:
            raise ValueError(f"the plan did not name the rule for {name}")
        return compile_spec(rule, fields)

    def root(self, root: plan.Root) -> sa.Select[Any] | None:
        """The statement of one root field; None when its JSON needs no database."""
        if isinstance(root, plan.RootConstant):
            return None
        if isinstance(root, plan.RootConnection):
            return self.connection(root.connection, None, None)
        target = root.target
        table = _table(target.entity)
        key: sa.BindParameter[Any] = CALLER
        if root.key_value is not None:
            # A parameter, its value the plan's unless the execution gives one
            # (`Scope.keys`): one statement serves every id of a prepared template.
            key = sa.bindparam(ROOT_KEY, root.key_value, type_=table.c.id.type)
        fields = _fields(target.entity, table)
        found = (
            sa.select(text(self.selection(target, table)))
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
            fields = _fields(entity, table)
            where = [compile_spec(connection.spec, fields), self._rule(entity, fields)]
            if owner is not None:
                where.append(owner(table))
            return where

        table = _table(entity)
        fields = _fields(entity, table)
        order_by = _order_by(fields, table, sort_field, request)
        # Not a column name: declared attributes never start with `_`.
        position = sa.func.row_number().over(order_by=order_by).label("_page_position")
        page = (
            sa.select(table, position)
            .where(*matching(table), _after(fields, table, sort_field, request))
            .correlate(*correlated)
            .order_by(*order_by)
            # Written in the statement, not bound: Postgres plans a `LIMIT $n` it cannot
            # see as a tenth of the table, so the cached generic plan looks costly and
            # every execution is planned again (docs/benchmarks/design-notes.md, "Page
            # size as a literal").
            .limit(integer(request.first + 1))
            .subquery()
        )
        in_page = page.c._page_position <= integer(request.first)
        page_fields = _fields(entity, page)
        edge_cursor = self.cursor(page_fields, page, sort_field)
        uses_page = False
        pairs: list[tuple[str, Json]] = []
        for part in connection.fields:
            if isinstance(part, plan.Constant):
                pairs.append((part.key, constant(part.text)))
            elif isinstance(part, plan.TotalCount):
                counted = _table(entity)
                total = (
                    sa.select(sa.func.count())
                    .select_from(counted)
                    .where(*matching(counted))
                    .correlate(*correlated)
                )
                pairs.append((part.key, number(total.scalar_subquery())))
            elif isinstance(part, plan.Edges):
                uses_page = True
                edge = self.edge(part, page, edge_cursor)
                # The page is ordered by position, for databases without ordered aggregates.
                listed = self._sql.listed(text(edge), [page.c._page_position], in_page)
                pairs.append((part.key, json_array(listed)))
            else:
                info: list[tuple[str, Json]] = []
                for info_part in part.fields:
                    if isinstance(info_part, plan.Constant):
                        info.append((info_part.key, constant(info_part.text)))
                        continue
                    info_key, kind = info_part
                    if kind is plan.PageInfoPart.HAS_PREVIOUS_PAGE:
                        info.append((info_key, ["true" if request.after else "false"]))
                        continue
                    uses_page = True
                    if kind is plan.PageInfoPart.HAS_NEXT_PAGE:
                        more = self._sql.boolean(sa.func.count() > integer(request.first))
                        info.append((info_key, [more]))
                    else:
                        last = kind is plan.PageInfoPart.END_CURSOR
                        found = self._sql.first(
                            edge_cursor, page.c._page_position, last=last, where=in_page
                        )
                        # NULL on an empty page.
                        info.append((info_key, or_null(text(quoted(found)))))
                pairs.append((part.key, json_object(info)))
        built = sa.select(text(json_object(pairs)))
        return built.select_from(page) if uses_page else built

    def edge(self, edges: plan.Edges, page: sa.FromClause, edge_cursor: SqlText) -> Json:
        pairs: list[tuple[str, Json]] = []
        for part in edges.fields:
            if isinstance(part, plan.Constant):
                pairs.append((part.key, constant(part.text)))
            elif isinstance(part, plan.EdgeCursor):
                pairs.append((part.key, quoted(edge_cursor)))
            else:
                pairs.append((part.key, self.selection(part.target, page)))
        return json_object(pairs)

    def selection(self, selection: plan.Selection, row: sa.FromClause) -> Json:
        return json_object(
            [(f.key, self.field(selection.entity, f, row)) for f in selection.fields]
        )

    def field(self, entity: plan.Source, field: plan.Field, row: sa.FromClause) -> Json:
        if isinstance(field, plan.Stored):
            return stored_json(field, row, self._sql, self.global_id)
        if isinstance(field, plan.Null):
            return ["null"]
        if isinstance(field, plan.Owned):
            if self._scope.user_id is None:
                return ["null"]
            mine = row.c[field.owner] == CALLER
            shown = text(self.field(entity, field.field, row))
            return [sa.case((mine, shown), else_=literal("null"))]
        if isinstance(field, plan.ManyToOne):
            return self.many_to_one(field, row)
        if isinstance(field, plan.OneToMany):
            return [self.one_to_many(field, row)]
        if isinstance(field, plan.ManyToMany):
            return [self.many_to_many(field, row)]
        if isinstance(field, plan.Count):
            return number(self.count(field, row))
        if isinstance(field, plan.Constant):
            return constant(field.text)
        if isinstance(field, plan.GlobalId):
            return quoted(self.global_id(field.type_name, row.c.id))
        if isinstance(field, plan.Money):
            return self.money(field, row)
        if isinstance(field, plan.Computed):
            return self.computed(field, row)
        return [self.parts(field, row)]

    def money(self, money: plan.Money, row: sa.FromClause) -> Json:
        cents_column, currency_column = money.source.columns
        json = self.money_object(money.parts, row.c[cents_column], row.c[currency_column])
        return or_null(text(json)) if money.source.nullable else json

    def money_object(
        self,
        parts: tuple[tuple[str, plan.MoneyPart], ...],
        cents: sa.ColumnElement[Any],
        currency: sa.ColumnElement[Any],
    ) -> Json:
        pairs: list[tuple[str, Json]] = []
        for key, part in parts:
            if part is plan.MoneyPart.AMOUNT:  # a string, as Money.amount
                pairs.append((key, quoted(self._sql.money_amount(cents))))
            elif part is plan.MoneyPart.CURRENCY:
                pairs.append((key, self._sql.string(sa.cast(currency, sa.Text))))
            else:
                pairs.append((key, constant("Money")))
        return json_object(pairs)

    def computed(self, computed: plan.Computed, row: sa.FromClause) -> Json:
        """A computed field (`domain.expressions`) as the resolvers compute it."""
        value = computed.value
        if not isinstance(value, plan.Total):
            amount, currency = _computation(value, row)
            return self._computed_json(computed, amount, currency)
        table = _table(value.source)

        def of_row(rows: sa.FromClause) -> list[Predicate]:
            fields = _fields(value.source, rows)
            # One condition: a rule that lets the caller see nothing makes it `false`
            # whole, so no subquery names the parent row uncorrelated (a cartesian
            # product SQLAlchemy warns of, reachable through a many-to-many).
            return [sa.and_(rows.c[value.column] == row.c.id, self._rule(value.source, fields))]

        term, term_currency = _computation(value.term, table)
        amount = sa.func.coalesce(sa.func.sum(term), integer(0))
        columns = [amount.label("amount")]
        if value.money:
            assert term_currency is not None
            first = self._sql.first_in_scan(
                term_currency, table.c.id, lambda: _again(table, of_row)
            )
            currency = sa.func.coalesce(first, literal(value.currency))
            columns.append(currency.label("currency"))
        # Aggregated first, so there is one row whatever the selection (even `{}`).
        totals = sa.select(*columns).where(*of_row(table)).correlate(row).subquery()
        json = self._computed_json(
            computed, totals.c.amount, totals.c.currency if value.money else None
        )
        return [sa.select(text(json)).select_from(totals).scalar_subquery()]

    def _computed_json(
        self,
        computed: plan.Computed,
        amount: sa.ColumnElement[Any],
        currency: sa.ColumnElement[Any] | None,
    ) -> Json:
        if computed.parts is None:
            return number(amount)
        assert currency is not None
        return self.money_object(computed.parts, amount, currency)

    def parts(self, parts: plan.Parts, owner: sa.FromClause) -> SqlText:
        """The JSON array of an aggregate's parts (an order's lines), by id."""
        target = parts.target
        table = _table(target.entity)
        where = [
            table.c[parts.column] == owner.c.id,
            self._rule(target.entity, _fields(target.entity, table)),
        ]
        if self._sql.ordered_aggregates:
            source = table
        else:
            source = sa.select(table).where(*where).order_by(table.c.id).correlate(owner).subquery()
            where = []
        listed = self._sql.listed(text(self.selection(target, source)), [source.c.id], None)
        return (
            sa.select(text(json_array(listed))).select_from(source).where(*where).scalar_subquery()
        )

    def global_id(self, type_name: str, key: sa.ColumnElement[Any]) -> SqlText:
        """`schema.node.to_global_id`: standard base64 of `Type:key`, padded."""
        prefix = f"{type_name}:"
        # An integer key (64 bits) is at most 20 characters with its sign.
        integral = isinstance(key.type, sa.Integer)
        one_line = integral and len(prefix.encode()) + 20 <= _BASE64_LINE
        return self._sql.base64(literal(prefix).concat(key), one_line=one_line)

    def cursor(self, fields: FieldMap, row: sa.FromClause, sort_field: str) -> SqlText:
        """`Cursor(sort_key(value), id).encode()`: base64url of the JSON `[key,id]` as
        Python's `json.dumps` writes it, unpadded."""
        ident = row.c.id
        target = fields[sort_field]
        column = target.column
        if sort_field == "id":
            key: SqlText = ident
        elif target.kind in (Kind.TEXT, Kind.EMAIL):
            key = self._sql.ascii_string(column)
        elif target.kind is Kind.ENUM:  # enum values are plain ASCII words
            key = text(quoted(column))
        elif target.kind is Kind.MONEY or target.column.type.python_type is int:
            key = column
        else:  # timestamps
            key = text(quoted(self._sql.iso_timestamp(column)))
        return self._sql.base64url(text(["[", key, ",", ident, "]"]))

    def many_to_one(self, related: plan.ManyToOne, row: sa.FromClause) -> Json:
        target = related.target
        table = _table(target.entity)
        found = (
            sa.select(text(self.selection(target, table)))
            .where(
                table.c.id == row.c[related.column],
                self._rule(target.entity, _fields(target.entity, table)),
            )
            .scalar_subquery()
        )
        return or_null(found)  # missing or hidden: null

    def count(self, counted: plan.Count, row: sa.FromClause) -> sa.ColumnElement[Any]:
        table = _table(counted.source)
        visible = self._rule(counted.source, _fields(counted.source, table))
        return (
            sa.select(sa.func.count())
            .select_from(table)
            .where(table.c[counted.column] == row.c.id, visible)
            .correlate(row)
            .scalar_subquery()
        )

    def one_to_many(self, related: plan.OneToMany, row: sa.FromClause) -> SqlText:
        def owned(table: sa.FromClause) -> Predicate:
            owns: Predicate = table.c[related.column] == row.c.id
            return owns

        return self.connection(related.connection, owned, row).scalar_subquery()

    def many_to_many(self, related: plan.ManyToMany, row: sa.FromClause) -> SqlText:
        """The connection over the target rows an association row links to `row`: an
        EXISTS, so a pair stored twice links the target once (as the repositories)."""
        through = related.through

        def linked(table: sa.FromClause) -> Predicate:
            links = association_table(through).alias()
            found: Predicate = (
                sa.select(sa.literal(1))
                .select_from(links)
                .where(links.c[through.target_key] == table.c.id, links.c[through.key] == row.c.id)
                .correlate(table, row)
                .exists()
            )
            return found

        return self.connection(related.connection, linked, row).scalar_subquery()


def _computation(
    value: plan.Column | plan.Times, row: sa.FromClause
) -> tuple[sa.ColumnElement[Any], sa.ColumnElement[Any] | None]:
    """A row's computed number (cents for money) and, for money, its currency column."""
    factors = value.factors if isinstance(value, plan.Times) else (value,)
    amount: sa.ColumnElement[Any] | None = None
    currency: sa.ColumnElement[Any] | None = None
    for factor in factors:
        column = row.c[factor.columns[0]]
        amount = column if amount is None else amount * column
        if factor.type is FieldType.MONEY:
            currency = row.c[factor.columns[1]]
    assert amount is not None
    return amount, currency


def _again(
    table: sa.FromClause, where: Callable[[sa.FromClause], list[Predicate]]
) -> tuple[sa.FromClause, list[Predicate]]:
    """A fresh alias of `table`'s element with the same conditions (a dialect that
    cannot take the first value in the same scan reads it again)."""
    fresh = table.element.alias() if isinstance(table, sa.Alias) else table.alias()
    return fresh, where(fresh)


def statements(
    built: plan.Plan, scope: plan.Scope, dialect: JsonDialect
) -> list[tuple[str, sa.Select[Any] | str]]:
    """Each root field's statement, or its JSON when no database is needed.

    The caller's id is left as the `caller_id` parameter (see `parameterized`).
    Raises ValidationError where the resolver path would refuse an argument.
    """
    builder = _Builder(scope, dialect)
    result: list[tuple[str, sa.Select[Any] | str]] = []
    for root in built.roots:
        statement = builder.root(root)
        if statement is None:
            assert isinstance(root, plan.RootConstant)
            result.append((root.key, root.json))
        else:
            result.append((root.key, statement))
    return result


# The most bytes Postgres's encode() writes as base64 without a line break: it ends every
# full line of 76 characters (57 bytes) with one, the last included.
_BASE64_LINE = 56

# The caller's id in every statement; its value comes with each execution, so one
# statement serves every caller with the same roles.
CALLER = sa.bindparam("caller_id", type_=sa.Integer)
# The name of a by-id root's key parameter in its statement (one root per statement).
ROOT_KEY = "root_key"


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


def json_dialect(engine: AsyncEngine) -> JsonDialect:
    """How the engine's database writes JSON text; raises ValueError for another database."""
    if engine.dialect.name == "postgresql":
        return PostgresJson()
    if engine.dialect.name == "sqlite":
        return SqliteJson()
    raise ValueError(f"the read model cannot write JSON on {engine.dialect.name}")


type Statements = list[tuple[str, sa.Select[Any] | DriverStatement | str]]
# The plan by identity (`id`): hashing a plan walks all of it, on every request. An
# entry holds its plan, so no other object can take that id while the entry lives.
type StatementKey = tuple[int, bool, frozenset[tuple[str, Specification]]]


class SqlReadModel:
    """Runs read plans on Postgres or SQLite; every root field's JSON comes back as text.

    Statements are kept per plan and rules (with the caller's id as a parameter):
    building one costs far more Python than running it.
    """

    def __init__(
        self, engine: AsyncEngine, cache_size: int = 1_000, *, coalesce: bool = True
    ) -> None:
        self._dialect = json_dialect(engine)
        # Postgres reads go to asyncpg itself (persistence.driver_reads), on an engine
        # whose outages are reported (every engine `create_engine` makes).
        outage = outage_of(engine) if engine.dialect.name == "postgresql" else None
        self._driver = None if outage is None else DriverReads(engine, outage)
        self._coalesced = (
            CoalescedReads(self._driver.fetch) if self._driver is not None and coalesce else None
        )
        if engine.dialect.name == "postgresql":
            # Autocommit, on the same pool: one SELECT needs no transaction, and each
            # statement has its own snapshot under READ COMMITTED either way. It spares
            # the BEGIN and ROLLBACK round trips the driver sends around every read (and
            # ~10% of the Python of a prepared read by id).
            self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        else:
            # The same on SQLite: each statement reads its own snapshot.
            self._engine = engine.execution_options(**{NO_TRANSACTION: True})
        self._statements: OrderedDict[StatementKey, tuple[plan.Plan, Statements]] = OrderedDict()
        self._cache_size = cache_size

    def _prepared(self, built: plan.Plan, scope: plan.Scope) -> Statements:
        rules = {entity: parameterized(rule, scope.user_id) for entity, rule in scope.rules.items()}
        key: StatementKey = (id(built), scope.user_id is None, frozenset(rules.items()))
        found = self._statements.get(key)
        if found is not None and found[0] is built:
            self._statements.move_to_end(key)
            return found[1]
        prepared: Statements = [*statements(built, plan.Scope(scope.user_id, rules), self._dialect)]
        if self._driver is not None:
            dialect = self._engine.dialect
            prepared = [(name, _for_driver(statement, dialect)) for name, statement in prepared]
        self._statements[key] = (built, prepared)
        self._statements.move_to_end(key)
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
        keys = scope.keys
        if keys and self._coalesced is not None and len(planned) == 1:
            # One root by id: read with the others of this turn (persistence.coalesced_reads).
            [(key, statement)] = planned
            if isinstance(statement, DriverStatement) and key in keys:
                text = await self._coalesced.read(statement, keys[key], scope.user_id)
                return {key: "null" if text is None else str(text)}
        compiled = [
            (k, s if not keys or k not in keys else s.keyed(keys[k]))
            for k, s in planned
            if isinstance(s, DriverStatement)
        ]
        if compiled:
            assert self._driver is not None  # compiled only for it
            texts = await self._driver.fetch([s for _, s in compiled], scope.user_id)
            for (key, _), text in zip(compiled, texts, strict=True):
                answers[key] = "null" if text is None else str(text)
        if len(answers) < len(planned):
            # Statements whose parameters need SQLAlchemy's processing.
            async with self._engine.connect() as conn:
                for key, statement in planned:
                    if isinstance(statement, sa.Select):
                        given = parameters
                        if keys and key in keys:
                            given = {**parameters, ROOT_KEY: keys[key]}
                        text = (await _execute(conn, statement, given)).scalar_one()
                        answers[key] = "null" if text is None else str(text)
        # In the order of the selection, as the executor writes the keys.
        return {key: answers[key] for key, _ in planned}


def _for_driver(
    statement: sa.Select[Any] | DriverStatement | str, dialect: sa.Dialect
) -> sa.Select[Any] | DriverStatement | str:
    if isinstance(statement, sa.Select):
        return compile_for_driver(statement, dialect, CALLER.key, ROOT_KEY) or statement
    return statement


async def _execute(
    conn: AsyncConnection, statement: sa.Executable, parameters: dict[str, Any]
) -> sa.Result[Any]:
    """Run a planned statement; a value the database refuses is the client's error."""
    try:
        return await conn.execute(statement, parameters)
    except sa.exc.DBAPIError as error:
        translated = domain_error_for(error)
        if translated is None:
            raise
        raise translated from error
    except OverflowError as error:  # sqlite3: an int past 64 bits
        raise out_of_range() from error
