"""Computed fields as data: an expression over a row's attributes and its related rows.

A declaration names a computed field's expression once (`product("quantity",
"unit_price")`, `sum_of("lines", "subtotal")`); the resolvers evaluate it here, in
Python, over the domain objects, and the read planner writes the same expression as SQL
(`domain.read_plan.Computed`). Both give the same value:

- `Attr`: a stored INT or MONEY attribute (not nullable) of the row;
- `Product`: the product of its factors, at most one of them money (money times a
  count, as `Money * int`);
- `SumOf`: the sum of `term` over the rows of a one-to-many relation the caller sees
  (its target's visibility rule applies); a money sum is in the currency of the first
  of those rows by id, and zero in `currency` without rows (`domain.money.total`). The
  rows must share one currency (the entity's invariant, as an order's lines): Python
  refuses a mixed sum, the SQL does not look.

A name in a `SumOf` term may name a computed field of the target instead of an
attribute; `resolve` replaces it with that field's expression once every declaration
is known.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from domain.money import Money, total


@dataclass(frozen=True, slots=True)
class Attr:
    """A stored attribute of the row (or, before `resolve`, a computed field's name)."""

    name: str


@dataclass(frozen=True, slots=True)
class Product:
    factors: tuple[Expression, ...]


@dataclass(frozen=True, slots=True)
class SumOf:
    """`term` summed over the rows of the one-to-many `relation` the caller sees."""

    relation: str
    term: Expression
    currency: str = "USD"
    kind: ValueType | None = None  # set by `typed`


type Expression = Attr | Product | SumOf


class ValueType(enum.StrEnum):
    """What an expression gives: a count or an amount of money."""

    INT = "int"
    MONEY = "money"


class ExpressionError(ValueError):
    """An expression that cannot be computed; the message names what is wrong."""


def _term(part: str | Expression) -> Expression:
    return Attr(part) if isinstance(part, str) else part


def product(*factors: str | Expression) -> Product:
    """The product of attributes (by name) or expressions."""
    if len(factors) < 2:
        raise ExpressionError("a product needs two factors or more")
    return Product(tuple(_term(f) for f in factors))


def sum_of(relation: str, term: str | Expression, *, currency: str = "USD") -> SumOf:
    """`term` (an attribute or computed field of the relation's target, or an
    expression over the target's row) summed over the relation's rows."""
    return SumOf(relation, _term(term), currency)


def sums(expression: Expression) -> Iterator[SumOf]:
    """The sums the expression takes, outermost first."""
    if isinstance(expression, SumOf):
        yield expression
    elif isinstance(expression, Product):
        for factor in expression.factors:
            yield from sums(factor)


def resolve(
    expression: Expression, computed: Callable[[str | None, str], Expression | None]
) -> Expression:
    """`expression` with every `Attr` that names a computed field replaced by that
    field's expression; `computed(relation, name)` looks a name up on the entity the
    expression reads (`relation` None) or on a relation's target."""

    def walk(part: Expression, relation: str | None, seen: frozenset[str]) -> Expression:
        if isinstance(part, Attr):
            found = computed(relation, part.name)
            if found is None:
                return part
            if part.name in seen:
                raise ExpressionError(f"{part.name} is computed from itself")
            return walk(found, relation, seen | {part.name})
        if isinstance(part, Product):
            return Product(tuple(walk(f, relation, seen) for f in part.factors))
        if relation is not None:
            raise ExpressionError(f"a sum over {relation} cannot hold another sum")
        return SumOf(part.relation, walk(part.term, part.relation, frozenset()), part.currency)

    return walk(expression, None, frozenset())


def typed(
    expression: Expression, attribute: Callable[[str | None, str], ValueType]
) -> tuple[Expression, ValueType]:
    """A resolved expression with each sum's type set, and what it gives;
    `attribute(relation, name)` gives an attribute's type (raising ExpressionError for a
    missing, nullable or unsummable one)."""

    def walk(part: Expression, relation: str | None) -> tuple[Expression, ValueType]:
        if isinstance(part, Attr):
            return part, attribute(relation, part.name)
        if isinstance(part, SumOf):
            term, kind = walk(part.term, part.relation)
            return SumOf(part.relation, term, part.currency, kind), kind
        walked = [walk(f, relation) for f in part.factors]
        money = [kind for _, kind in walked].count(ValueType.MONEY)
        if money > 1:
            raise ExpressionError("a product may hold one amount of money at most")
        kind = ValueType.MONEY if money else ValueType.INT
        return Product(tuple(f for f, _ in walked)), kind

    return walk(expression, None)


def evaluate(expression: Expression, row: Any, rows: Mapping[str, Sequence[Any]]) -> int | Money:
    """The value of a resolved expression on `row`, given the rows of each relation
    it sums (the caller's visible rows, in id order); raises ValidationError for a sum
    of money in several currencies."""
    if isinstance(expression, Attr):
        found: int | Money = getattr(row, expression.name)
        return found
    if isinstance(expression, Product):
        result: Any = 1
        for factor in expression.factors:
            value = evaluate(factor, row, rows)
            # Money times a count (`Money * int`); the count on the right keeps it money.
            result = value * result if isinstance(value, Money) else result * value
        found_product: int | Money = result
        return found_product
    terms = [evaluate(expression.term, child, {}) for child in rows[expression.relation]]
    if expression.kind is ValueType.MONEY:
        return total([term for term in terms if isinstance(term, Money)], expression.currency)
    if expression.kind is None:
        raise ExpressionError(f"the sum over {expression.relation} was not typed")
    return sum(term for term in terms if isinstance(term, int))
