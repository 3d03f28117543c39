from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import FieldProblem, ValidationError
from domain.money import MAX_MINOR_UNITS, CurrencyMismatchError, Money, total

cents = st.integers(min_value=-(10**15), max_value=10**15)
currencies = st.sampled_from(["USD", "EUR", "GBP", "JPY"])


@given(cents, cents)
def test_money_addition_is_exact(a: int, b: int) -> None:
    assert Money(a) + Money(b) == Money(a + b)


@given(cents, cents)
def test_money_subtraction_is_exact(a: int, b: int) -> None:
    assert Money(a) - Money(b) == Money(a - b)


@given(cents, cents, currencies)
def test_money_addition_is_commutative(a: int, b: int, currency: str) -> None:
    assert Money(a, currency) + Money(b, currency) == Money(b, currency) + Money(a, currency)


@given(cents, cents, cents)
def test_money_addition_is_associative(a: int, b: int, c: int) -> None:
    assert (Money(a) + Money(b)) + Money(c) == Money(a) + (Money(b) + Money(c))


@given(cents, cents)
def test_subtracting_what_was_added_gives_the_original(a: int, b: int) -> None:
    assert Money(a) + Money(b) - Money(b) == Money(a)


@given(cents, st.integers(min_value=-10_000, max_value=10_000), currencies)
def test_multiplying_by_a_quantity_scales_the_cents(amount: int, quantity: int, cur: str) -> None:
    assert Money(amount, cur) * quantity == Money(amount * quantity, cur)
    assert quantity * Money(amount, cur) == Money(amount * quantity, cur)


@given(cents, st.integers(min_value=0, max_value=50))
def test_multiplying_equals_repeated_addition(amount: int, quantity: int) -> None:
    assert Money(amount) * quantity == total([Money(amount)] * quantity)


def test_multiplying_by_a_boolean_is_refused() -> None:
    with pytest.raises(TypeError):
        _ = Money(100) * True


def test_an_amount_with_more_than_two_decimals_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        Money.of("1.005")
    assert caught.value.problems == [FieldProblem("amount", "at most 2 decimal places are allowed")]


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("1.00", Money(100)),
        ("1.5", Money(150)),
        ("1.000", Money(100)),
        ("-0.01", Money(-1)),
        (7, Money(700)),
        (Decimal("12.34"), Money(1234)),
    ],
)
def test_an_amount_with_at_most_two_significant_decimals_is_accepted(
    amount: str | int | Decimal, expected: Money
) -> None:
    assert Money.of(amount) == expected


@pytest.mark.parametrize("amount", ["abc", "", "1,00", "NaN", "Infinity", "-inf", "sNaN"])
def test_an_amount_that_is_not_a_finite_number_is_refused(amount: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Money.of(amount)
    assert [problem.field for problem in caught.value.problems] == ["amount"]


@pytest.mark.parametrize("amount", ["1e30", "-1e30", "1e999999", "123456789012345678901234567.5"])
def test_an_absurdly_large_amount_is_a_validation_error(amount: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Money.of(amount)
    assert [problem.field for problem in caught.value.problems] == ["amount"]


def _refused_fields(text: str) -> list[str]:
    try:
        Money.of(text)
    except ValidationError as error:
        return [problem.field for problem in error.problems]
    return []


@given(st.text())
def test_parsing_any_text_raises_nothing_but_a_validation_error_on_amount(text: str) -> None:
    assert _refused_fields(text) in ([], ["amount"])


@given(st.integers(-MAX_MINOR_UNITS, MAX_MINOR_UNITS), currencies)
def test_amount_round_trips_through_money_of(amount: int, currency: str) -> None:
    money = Money(amount, currency)
    assert Money.of(money.amount, currency) == money


@given(st.integers(MAX_MINOR_UNITS + 1, 10**20), st.sampled_from([1, -1]))
def test_an_amount_past_the_range_is_refused(amount: int, sign: int) -> None:
    with pytest.raises(ValidationError) as raised:
        Money.of(Money(sign * amount).amount)
    assert [(p.field, p.message) for p in raised.value.problems] == [
        ("amount", "must be between -9999999999999.99 and 9999999999999.99")
    ]


@given(cents)
def test_amount_always_has_two_decimal_places(amount: int) -> None:
    assert Money(amount).amount.as_tuple().exponent == -2


def test_money_prints_its_amount_and_currency() -> None:
    assert str(Money(-1205, "eur")) == "-12.05 EUR"


@pytest.mark.parametrize("code", ["US", "USDX", "U5D", "ÜSD", ""])
def test_a_currency_that_is_not_three_ascii_letters_is_refused(code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Money(100, code)
    assert caught.value.problems == [FieldProblem("currency", f"{code!r} is not an ISO 4217 code")]


def test_currency_codes_are_upper_cased() -> None:
    assert Money(100, "eur") == Money(100, "EUR")


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
        lambda a, b: total([a, b]),
    ],
)
def test_combining_two_currencies_raises_a_currency_mismatch(
    operation: Callable[[Money, Money], object],
) -> None:
    with pytest.raises(CurrencyMismatchError) as caught:
        operation(Money(100, "USD"), Money(100, "EUR"))
    assert (caught.value.left, caught.value.right, caught.value.problems) == (
        "USD",
        "EUR",
        [FieldProblem("currency", "cannot combine USD with EUR")],
    )


def test_money_in_different_currencies_is_not_equal() -> None:
    assert Money(100, "USD") != Money(100, "EUR")


@given(cents, cents)
def test_ordering_compares_the_cents(a: int, b: int) -> None:
    assert (
        Money(a) < Money(b),
        Money(a) <= Money(b),
        Money(a) > Money(b),
        Money(a) >= Money(b),
    ) == (
        a < b,
        a <= b,
        a > b,
        a >= b,
    )


def test_the_total_of_nothing_is_zero() -> None:
    assert total([]) == Money(0, "USD")


def test_the_total_of_nothing_is_zero_in_the_requested_currency() -> None:
    assert total([], "EUR") == Money(0, "EUR")


@given(st.lists(cents, max_size=20), currencies)
def test_the_total_is_the_sum_of_the_cents(amounts: list[int], currency: str) -> None:
    assert total([Money(a, currency) for a in amounts], currency) == Money(sum(amounts), currency)
