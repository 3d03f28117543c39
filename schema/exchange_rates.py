"""`priceIn(currency)`: a price in another currency, from the exchange-rate upstream.

One line on the type that has a `price` (`price_in = exchange_rates.price_in_field()`
on the declared `Item`, schema/declarations/items.py): the resolver reads the price's
amount and currency and nothing else of its object, so the field moves with the type
whatever declares it.
"""

from __future__ import annotations

from typing import Any, Protocol

import strawberry

from domain import money as domain_money
from resolvers import exchange_rates as rate_resolvers
from resolvers.context import Context
from schema.money import Money

type Info = strawberry.Info[Context, None]

DESCRIPTION = (
    "The price in another currency (an ISO 4217 code) at the exchange-rate service's rate, "
    "rounded half-even to the cent; null when the service knows no such rate, or with "
    "UPSTREAM_UNAVAILABLE or UPSTREAM_TIMEOUT when it cannot answer."
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
    converted = await rate_resolvers.price_in(info.context, price, currency)
    return Money.from_domain(converted) if converted is not None else None


def price_in_field() -> Any:
    """The `priceIn(currency: String!): Money` field, for a type with a `price`."""
    return strawberry.field(resolver=_price_in, description=DESCRIPTION)
