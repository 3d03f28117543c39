"""The `ExchangeRates` port over the exchange-rate service's GraphQL endpoint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation

from domain.errors import UpstreamUnavailableError
from domain.exchange_rates import CurrencyPair
from upstreams.exchange_rates.http import MAX_PAIRS, pair_key
from upstreams.graphql import GraphQLUpstream

RATES = "query Rates($pairs: [String!]!) { rates(pairs: $pairs) { pair rate } }"


class GraphQLExchangeRates:
    """Rates from the service's `rates(pairs)` query, one request per batch of pairs."""

    def __init__(self, endpoint: GraphQLUpstream, upstream: str) -> None:
        self._endpoint, self._upstream = endpoint, upstream

    async def rates(self, pairs: Sequence[CurrencyPair]) -> Mapping[CurrencyPair, Decimal]:
        """Raises UpstreamUnavailableError or UpstreamTimeoutError."""
        found: dict[CurrencyPair, Decimal] = {}
        for start in range(0, len(pairs), MAX_PAIRS):
            batch = pairs[start : start + MAX_PAIRS]
            data = await self._endpoint.execute(RATES, {"pairs": [pair_key(p) for p in batch]})
            try:
                rates = {entry["pair"]: Decimal(entry["rate"]) for entry in data["rates"]}
            except (KeyError, TypeError, InvalidOperation) as error:
                raise UpstreamUnavailableError(
                    self._upstream, f"unreadable answer ({error})"
                ) from None
            found.update({p: rates[pair_key(p)] for p in batch if pair_key(p) in rates})
        return found
