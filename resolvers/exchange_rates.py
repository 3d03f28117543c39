"""Prices in other currencies: read the argument, load the rate, convert."""

from __future__ import annotations

from domain import exchange_rates
from domain.money import Money
from resolvers.context import Context


async def price_in(context: Context, price: Money, currency: str) -> Money | None:
    """`price` in `currency`; None when the service knows no such rate. Raises
    ValidationError (a malformed code), UpstreamUnavailableError, UpstreamTimeoutError."""
    pair = exchange_rates.pair(price.currency, currency)
    if pair[0] == pair[1]:
        return price  # asks nothing of the service, so its outages cannot touch it
    rate = await context.loaders.exchange_rates.load(pair)
    return None if rate is None else exchange_rates.convert(price, rate, pair[1])
