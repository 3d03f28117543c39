"""Compile domain specifications into SQL boolean expressions.

Python evaluates a specification in two-valued logic (a comparison with None is
False, and NOT of it is True). Every leaf is compiled to a never-NULL expression, so
And/Or/Not compose exactly as in Python and the same spec selects the same rows.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from domain.errors import ValidationError
from domain.money import Money
from domain.specifications import Always, And, Compare, Not, Op, Or, Specification
from domain.users import Email

type Predicate = ColumnElement[bool]


class Kind(enum.Enum):
    PLAIN = "plain"  # ints, bools, datetimes: compared as they are
    TEXT = "text"  # strings: comparable and searchable with CONTAINS
    MONEY = "money"  # Money values: the column holds cents, `currency` the code
    EMAIL = "email"  # Email values, stored lower-case
    ENUM = "enum"  # StrEnum values, stored as their value


@dataclass(frozen=True, slots=True)
class SqlField:
    """How one domain field maps onto the table."""

    column: sa.ColumnElement[Any]
    kind: Kind = Kind.PLAIN
    currency: sa.ColumnElement[Any] | None = None
    nullable: bool = False
    filterable: bool = True

    def decode_cursor_key(self, key: object) -> Any:
        """Turn a cursor key (see `domain.paging.sort_key`) back into a column value."""
        python_type = _python_type(self.column)
        if python_type is datetime and isinstance(key, str):
            # Times are bound as UTC (`tables.UtcDateTime`, a naive one taken as UTC): one
            # whose UTC form is past datetime's range (9999-12-31T23:00-05:00) is no
            # position, and binding it overflowed as an internal error.
            try:
                moment = datetime.fromisoformat(key)
                (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
            except (ValueError, OverflowError):
                pass
            else:
                return moment
        elif python_type is Decimal and isinstance(key, str):
            # `sort_key` writes a Decimal as its string; a client could send any string.
            try:
                number = Decimal(key)
            except InvalidOperation:
                pass
            else:
                if number.is_finite():
                    return number
        elif (python_type is int and isinstance(key, int) and not isinstance(key, bool)) or (
            python_type is str and isinstance(key, str)
        ):
            return key
        raise ValidationError.single("after", "is not a valid cursor")


type FieldMap = Mapping[str, SqlField]


def _python_type(column: sa.ColumnElement[Any]) -> type:
    try:
        return column.type.python_type
    except NotImplementedError:
        return object


class ascii_lower(FunctionElement[str]):  # named like the SQL function
    """Lower-case ASCII letters only, like `domain.specifications._ascii_lower`."""

    type = sa.String()
    inherit_cache = True
    name = "ascii_lower"


@compiles(ascii_lower)
def _ascii_lower_default(element: ascii_lower, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite's lower() folds ASCII only (without the ICU extension).
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(ascii_lower, "postgresql")
def _ascii_lower_postgres(element: ascii_lower, compiler: SQLCompiler, **kw: Any) -> str:
    # Postgres' lower() folds every script the locale knows; translate() folds ASCII only.
    upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    arg = compiler.process(element.clauses, **kw)
    return f"translate({arg}, '{upper}', '{upper.lower()}')"


def _fold(text: str) -> str:
    return text.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_OPERATORS: dict[Op, Callable[[Any, Any], Predicate]] = {
    Op.EQ: lambda c, v: c == v,
    Op.NE: lambda c, v: c != v,
    Op.LT: lambda c, v: c < v,
    Op.LE: lambda c, v: c <= v,
    Op.GT: lambda c, v: c > v,
    Op.GE: lambda c, v: c >= v,
}


def compile_spec(spec: Specification, fields: FieldMap) -> Predicate:
    """A SQL expression selecting exactly the rows `spec.is_satisfied_by` accepts.

    Raises ValidationError for an unknown or unfilterable field or an unusable value.
    """
    if isinstance(spec, Always):
        return sa.true()
    if isinstance(spec, And):
        return sa.and_(sa.true(), *(compile_spec(part, fields) for part in spec.parts))
    if isinstance(spec, Or):
        return sa.or_(sa.false(), *(compile_spec(part, fields) for part in spec.parts))
    if isinstance(spec, Not):
        return sa.not_(compile_spec(spec.part, fields))
    if isinstance(spec, Compare):
        return _compare(spec, fields)
    raise ValidationError.single("filter", f"unsupported specification {type(spec).__name__}")


def _field(fields: FieldMap, name: str) -> SqlField:
    found = fields.get(name)
    if found is None or not found.filterable:
        raise ValidationError.single(name, "cannot be filtered on")
    return found


def _compare(spec: Compare, fields: FieldMap) -> Predicate:
    target = _field(fields, spec.field)
    if spec.op is Op.CONTAINS:
        return _contains(spec, target)
    if target.kind is Kind.MONEY:
        return _money(spec, target)
    if spec.op is Op.IN:
        return _in(spec, target)
    value = _unwrap(spec.field, target, spec.value)
    if value is None:
        return _compare_with_none(spec, target)
    return _never_null(_OPERATORS[spec.op](target.column, value), target)


def _never_null(expr: Predicate, target: SqlField) -> Predicate:
    # Only a NULL column can make a leaf NULL; Python treats that as False.
    if not target.nullable:
        return expr
    return sa.func.coalesce(expr, sa.false())


def _compare_with_none(spec: Compare, target: SqlField) -> Predicate:
    # In Python a None attribute never satisfies a Compare; otherwise `x == None` is
    # False and `x != None` is True. Ordering against None is a TypeError there.
    if spec.op is Op.EQ:
        return sa.false()
    if spec.op is Op.NE:
        return target.column.is_not(None)
    raise ValidationError.single(spec.field, f"cannot use {spec.op.value} with null")


def _unwrap(name: str, target: SqlField, value: object) -> Any:
    if value is None:
        return None
    if target.kind is Kind.EMAIL:
        if isinstance(value, Email):
            return value.value
        if isinstance(value, str):
            return value.strip().lower()
        raise ValidationError.single(name, "expects an email address")
    if target.kind is Kind.ENUM:
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, str):
            return value
        raise ValidationError.single(name, "expects one of its enum values")
    if target.kind is Kind.TEXT and not isinstance(value, str):
        raise ValidationError.single(name, "expects text")
    if target.kind is Kind.PLAIN and isinstance(value, str | Money | Email):
        raise ValidationError.single(name, f"cannot be compared with {type(value).__name__}")
    return value


def _in(spec: Compare, target: SqlField) -> Predicate:
    try:
        values = list(spec.value)
    except TypeError:
        raise ValidationError.single(spec.field, "`in` expects a list of values") from None
    unwrapped = [_unwrap(spec.field, target, v) for v in values]
    present = [v for v in unwrapped if v is not None]
    expr = target.column.in_(present)
    if target.nullable and len(present) < len(unwrapped):
        # Python's `None in (None,)` is True where SQL's `NULL IN (NULL)` is not.
        return sa.or_(sa.func.coalesce(expr, sa.false()), target.column.is_(None))
    return _never_null(expr, target)


def _money(spec: Compare, target: SqlField) -> Predicate:
    assert target.currency is not None
    if spec.op is Op.IN:
        try:
            values = list(spec.value)
        except TypeError:
            raise ValidationError.single(spec.field, "`in` expects a list of amounts") from None
        for value in values:
            if not isinstance(value, Money):
                raise ValidationError.single(spec.field, "expects amounts of money")
        return sa.or_(
            sa.false(),
            *(sa.and_(target.currency == v.currency, target.column == v.cents) for v in values),
        )
    if not isinstance(spec.value, Money):
        raise ValidationError.single(spec.field, "expects an amount of money")
    # As Compare does in Python: another currency never matches, whatever the op.
    return sa.and_(
        target.currency == spec.value.currency,
        _OPERATORS[spec.op](target.column, spec.value.cents),
    )


def _contains(spec: Compare, target: SqlField) -> Predicate:
    if target.kind not in (Kind.TEXT, Kind.EMAIL, Kind.ENUM):
        raise ValidationError.single(spec.field, "only text fields support contains")
    needle = _fold(str(spec.value))
    column: sa.ColumnElement[Any] = target.column
    if target.nullable:
        # Python searches str(None) == "None" when the attribute is None.
        column = sa.func.coalesce(column, "None")
    return ascii_lower(column).like(f"%{_escape_like(needle)}%", escape="\\")
