"""The `ExchangeRates` port over the exchange-rate service's HTTP API.

`GET /rates?pairs=USD:EUR,EUR:GBP` answers `{"rates": {"USD:EUR": "0.92", ...}}`,
leaving out the pairs it does not know.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation

from domain.errors import UpstreamUnavailableError
from domain.exchange_rates import CurrencyPair
from upstreams.client import Upstream

# Pairs per request: a bounded query string (the loader batches at most this many).
MAX_PAIRS = 100


def pair_key(pair: CurrencyPair) -> str:
    return f"{pair[0]}:{pair[1]}"


class HttpExchangeRates:
    """Rates from the exchange-rate service, one request per batch of pairs."""

    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream

    async def rates(self, pairs: Sequence[CurrencyPair]) -> Mapping[CurrencyPair, Decimal]:
        """Raises UpstreamUnavailableError (also for an answer it cannot read) or
        UpstreamTimeoutError."""
        found: dict[CurrencyPair, Decimal] = {}
        for start in range(0, len(pairs), MAX_PAIRS):
            found.update(await self._batch(pairs[start : start + MAX_PAIRS]))
        return found

    async def _batch(self, pairs: Sequence[CurrencyPair]) -> dict[CurrencyPair, Decimal]:
        name = self._upstream.name
        query = ",".join(pair_key(p) for p in pairs)
        response = await self._upstream.request("GET", "/rates", params={"pairs": query})
        try:
            if response.status_code != 200:
                raise ValueError(f"answered {response.status_code}")
            rates = response.json()["rates"]
            return {p: Decimal(rates[pair_key(p)]) for p in pairs if pair_key(p) in rates}
        except (ValueError, KeyError, TypeError, InvalidOperation) as error:
            raise UpstreamUnavailableError(name, f"unreadable answer ({error})") from None
