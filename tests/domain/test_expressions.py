"""Computed-field expressions evaluated in Python: the reference the planner's SQL meets."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import ValidationError
from domain.expressions import (
    Expression,
    ExpressionError,
    Product,
    SumOf,
    ValueType,
    evaluate,
    product,
    resolve,
    sum_of,
    typed,
)
from domain.money import Money


@dataclass
class Line:
    quantity: int
    unit_price: Money


@dataclass
class Order:
    id: int


TYPES = {"quantity": ValueType.INT, "unit_price": ValueType.MONEY}
SUBTOTAL = product("unit_price", "quantity")


def _typed(expression: Expression) -> tuple[Expression, ValueType]:
    return typed(expression, lambda _relation, name: TYPES[name])


def test_a_product_of_money_and_a_count_is_money() -> None:
    expression, kind = _typed(SUBTOTAL)
    assert kind is ValueType.MONEY
    assert evaluate(expression, Line(3, Money(250, "EUR")), {}) == Money(750, "EUR")


def test_a_sum_of_subtotals_is_in_the_first_lines_currency_and_zero_without_lines() -> None:
    total, kind = _typed(sum_of("lines", SUBTOTAL, currency="USD"))
    assert kind is ValueType.MONEY
    lines = [Line(2, Money(100, "EUR")), Line(1, Money(5, "EUR"))]
    assert evaluate(total, Order(1), {"lines": lines}) == Money(205, "EUR")
    assert evaluate(total, Order(1), {"lines": []}) == Money(0, "USD")


def test_a_sum_of_counts_is_a_count() -> None:
    total, kind = _typed(sum_of("lines", "quantity"))
    assert kind is ValueType.INT
    assert evaluate(total, Order(1), {"lines": [Line(2, Money(1)), Line(5, Money(1))]}) == 7
    assert evaluate(total, Order(1), {"lines": []}) == 0


def test_a_sum_over_several_currencies_is_refused() -> None:
    total, _ = _typed(sum_of("lines", SUBTOTAL))
    with pytest.raises(ValidationError):
        evaluate(total, Order(1), {"lines": [Line(1, Money(1, "EUR")), Line(1, Money(1))]})


def test_names_of_computed_fields_are_replaced_by_their_expressions() -> None:
    def computed(relation: str | None, name: str) -> Product | None:
        return SUBTOTAL if (relation, name) == ("lines", "subtotal") else None

    assert resolve(sum_of("lines", "subtotal"), computed) == SumOf("lines", SUBTOTAL)
    with pytest.raises(ExpressionError):
        resolve(sum_of("lines", sum_of("lines", "quantity")), computed)


def test_fields_computed_from_each_other_are_refused() -> None:
    cycle = {"a": product("b", "quantity"), "b": product("a", "quantity")}

    def computed(relation: str | None, name: str) -> Expression | None:
        return cycle.get(name) if relation is None else None

    with pytest.raises(ExpressionError, match="computed from itself"):
        resolve(product("a", "quantity"), computed)


def test_two_amounts_of_money_do_not_multiply() -> None:
    with pytest.raises(ExpressionError):
        _typed(product("unit_price", "unit_price"))


@given(st.lists(st.tuples(st.integers(1, 10_000), st.integers(0, 10**9)), max_size=20))
def test_a_total_is_the_sum_of_the_lines_subtotals(lines: list[tuple[int, int]]) -> None:
    total, _ = _typed(sum_of("lines", SUBTOTAL))
    rows = [Line(quantity, Money(cents)) for quantity, cents in lines]
    expected = sum(quantity * cents for quantity, cents in lines)
    assert evaluate(total, Order(1), {"lines": rows}) == Money(expected)
