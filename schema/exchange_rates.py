"""`priceIn(currency)`: a price in another currency, from the `exchange_rates` upstream.

`RATES` declares what is asked of the exchange-rate service: a rate by currency pair,
over its HTTP/JSON API (`GET /rates?pairs=USD:EUR,EUR:GBP` answers
`{"rates": {"USD:EUR": "0.92"}}`, leaving out the pairs it does not know) or over its
GraphQL endpoint (`rates(pairs)`), as `UPSTREAMS__EXCHANGE_RATES__KIND` says. The field
is one line on the type that has a `price` (`price_in = exchange_rates.price_in_field()`
on the declared `Item`, schema/declarations/items.py): the resolver reads the price's
amount and currency and nothing else of its object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

import strawberry

from domain import exchange_rates
from domain import money as domain_money
from domain.exchange_rates import CurrencyPair
from domain.upstreams import GraphQLCall, HttpCall, Json, UpstreamSource
from resolvers.context import Context
from schema import upstreams
from schema.money import Money

type Info = strawberry.Info[Context, None]

DESCRIPTION = (
    "The price in another currency (an ISO 4217 code) at the exchange-rate service's rate, "
    "rounded half-even to the cent; null when the service knows no such rate, or with "
    "UPSTREAM_UNAVAILABLE or UPSTREAM_TIMEOUT when it cannot answer."
)
RATES_QUERY = "query Rates($pairs: [String!]!) { rates(pairs: $pairs) { pair rate } }"


def pair_key(pair: CurrencyPair) -> str:
    return f"{pair[0]}:{pair[1]}"


def _params(pairs: Sequence[CurrencyPair]) -> Mapping[str, str]:
    return {"pairs": ",".join(pair_key(p) for p in pairs)}


def _read_http(body: Json, pairs: Sequence[CurrencyPair]) -> Mapping[CurrencyPair, Decimal]:
    rates: Any = body["rates"]  # type: ignore[index]  # a wrong shape is an unreadable answer
    return {p: Decimal(rates[pair_key(p)]) for p in pairs if pair_key(p) in rates}


def _variables(pairs: Sequence[CurrencyPair]) -> Mapping[str, Json]:
    return {"pairs": [pair_key(p) for p in pairs]}


def _read_graphql(
    data: Mapping[str, Json], pairs: Sequence[CurrencyPair]
) -> Mapping[CurrencyPair, Decimal]:
    entries: Any = data["rates"]
    rates = {entry["pair"]: Decimal(entry["rate"]) for entry in entries}
    return {p: rates[pair_key(p)] for p in pairs if pair_key(p) in rates}


# At most 100 pairs per call: a bounded query string.
RATES: UpstreamSource[CurrencyPair, Decimal] = UpstreamSource(
    upstream="exchange_rates",
    name="exchange_rates",
    http=HttpCall(path="/rates", params=_params, read=_read_http),
    graphql=GraphQLCall(document=RATES_QUERY, variables=_variables, read=_read_graphql),
    max_batch=100,
)


class _Amount(Protocol):
    @property
    def amount(self) -> Any: ...

    @property
    def currency(self) -> str: ...


class _Priced(Protocol):
    @property
    def price(self) -> _Amount: ...


async def _price_in(root: strawberry.Parent[_Priced], info: Info, currency: str) -> Money | None:
    price = domain_money.Money.of(root.price.amount, root.price.currency)
    pair = exchange_rates.pair(price.currency, currency)
    if pair[0] == pair[1]:
        return Money.from_domain(price)  # asks nothing of the service: its outages cannot touch it
    rate = await upstreams.load(info, RATES, pair)
    return None if rate is None else Money.from_domain(exchange_rates.convert(price, rate, pair[1]))


def price_in_field() -> Any:
    """The `priceIn(currency: String!): Money` field, for a type with a `price`."""
    return upstreams.upstream_field(RATES, _price_in, description=DESCRIPTION)
