"""Prices in another currency: the exchange-rate port and the conversion rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Protocol

from domain.money import Money

# (from, to): ISO 4217 codes, upper case.
type CurrencyPair = tuple[str, str]


class ExchangeRates(Protocol):
    """Rates from an exchange-rate service (over HTTP, or the example's table in process)."""

    async def rates(self, pairs: Sequence[CurrencyPair]) -> Mapping[CurrencyPair, Decimal]:
        """Each pair's rate the service knows, in one call (an unknown pair is left out).

        Raises UpstreamUnavailableError or UpstreamTimeoutError.
        """
        ...


def pair(source: str, target: str) -> CurrencyPair:
    """The pair from `source` to `target`; raises ValidationError for a code that is not
    ISO 4217-shaped."""
    return (Money.zero(source).currency, Money.zero(target).currency)


def convert(price: Money, rate: Decimal, currency: str) -> Money:
    """`price` at `rate` in `currency`, rounded half-even to the minor unit."""
    return Money.of((price.amount * rate).quantize(Decimal("0.01"), ROUND_HALF_EVEN), currency)
