"""Prices in another currency: the currency pair and the conversion rule (the rates come
from the `exchange_rates` upstream, declared in schema/exchange_rates.py)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from domain.money import Money

# (from, to): ISO 4217 codes, upper case.
type CurrencyPair = tuple[str, str]


def pair(source: str, target: str) -> CurrencyPair:
    """The pair from `source` to `target`; raises ValidationError for a code that is not
    ISO 4217-shaped."""
    return (Money.zero(source).currency, Money.zero(target).currency)


def convert(price: Money, rate: Decimal, currency: str) -> Money:
    """`price` at `rate` in `currency`, rounded half-even to the minor unit."""
    return Money.of((price.amount * rate).quantize(Decimal("0.01"), ROUND_HALF_EVEN), currency)
