"""Computed fields (`domain.expressions`) as plan data, for any entity.

The expression is the one the resolvers evaluate; here its attributes become the
entity's columns and a sum over a relation a `read_plan.Total` over the relation's
source, so the SQL computes what Python computes. A shape the SQL side does not write
(a sum inside a product, a factor that is not a stored column) refuses the root field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from graphql import GraphQLObjectType

from domain import expressions
from domain import read_plan as plan
from domain.expressions import Attr, Expression, Product, SumOf, ValueType
from domain.model import FieldType

if TYPE_CHECKING:
    from schema.planner.compile import Details, _Planner

# A one-to-many relation by name: the target's column holding the owner's id, and the
# target's source.
type Relations = Callable[[str], tuple[str, plan.Source]]


def column_type(column: plan.Column) -> ValueType:
    """What a stored column gives in an expression; raises ExpressionError for a
    nullable column or one that is neither a count nor money."""
    if column.nullable:
        raise expressions.ExpressionError(f"{column.name} may be null")
    if column.type is FieldType.INT:
        return ValueType.INT
    if column.type is FieldType.MONEY:
        return ValueType.MONEY
    raise expressions.ExpressionError(f"{column.name} is no count nor money")


def computed_leaf(
    planner: _Planner,
    key: str,
    details: Details,
    own: GraphQLObjectType,
    typed: tuple[Expression, ValueType],
    source: plan.Source,
    relations: Relations,
) -> plan.Computed:
    """The plan of a computed field whose typed expression (`expressions.typed`) reads
    `source`'s row."""
    expression, kind = typed
    value = _value(planner, expression, source, relations)
    name = details[0].node.name.value
    parts = planner.money_parts(details, own, name) if kind is ValueType.MONEY else None
    return plan.Computed(key, value, parts)


def _value(
    planner: _Planner, expression: Expression, source: plan.Source, relations: Relations
) -> plan.Column | plan.Times | plan.Total:
    if isinstance(expression, SumOf):
        column, target = relations(expression.relation)
        planner.rules.add(target.entity)
        term = _row_value(planner, expression.term, target)
        money = expression.kind is ValueType.MONEY
        return plan.Total(column, target, term, expression.currency, money)
    return _row_value(planner, expression, source)


def _row_value(
    planner: _Planner, expression: Expression, source: plan.Source
) -> plan.Column | plan.Times:
    if isinstance(expression, Attr):
        return _column(planner, source, expression.name)
    if isinstance(expression, Product):
        factors = []
        for factor in expression.factors:
            if not isinstance(factor, Attr):
                planner.refuse(f"{source.entity}: a product of computed values")
            factors.append(_column(planner, source, factor.name))
        return plan.Times(tuple(factors))
    return planner.refuse(f"{source.entity}: a sum inside a sum or product")


def _column(planner: _Planner, source: plan.Source, name: str) -> plan.Column:
    try:
        return source.column(name)
    except KeyError:
        return planner.refuse(f"{source.entity}.{name}: not stored")
