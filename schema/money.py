"""Money on the wire: a decimal amount as a string-encoded Decimal, and a currency."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from domain import money


@strawberry.type(description="An exact amount of money.")
class Money:
    amount: Decimal
    currency: str

    @classmethod
    def from_domain(cls, value: money.Money) -> Money:
        return cls(amount=value.amount, currency=value.currency)


@strawberry.input(description="An amount of money; at most two decimal places.")
class MoneyInput:
    amount: Decimal
    currency: str = "USD"

    def to_domain(self) -> money.Money:
        return money.Money.of(self.amount, self.currency)
