"""The catalog: items with a price and a stock that orders reserve."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from domain.errors import FieldProblem, OutOfStockError, ValidationError
from domain.events import ItemPriceChanged, RecordsEvents
from domain.model import Policy
from domain.money import Money
from domain.visibility import visible_items

_SKU = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,39}$")
# An order's total (price x 10,000 units x 100 lines) then fits in 64 bits, and stock
# with every outstanding reservation released fits the 32-bit column.
MAX_PRICE_CENTS = 100_000_000_000
MAX_STOCK = 1_000_000_000


def check_item_fields(
    *,
    sku: str | None = None,
    name: str | None = None,
    price: Money | None = None,
    stock: int | None = None,
    description: str | None = None,
) -> None:
    """Raises ValidationError listing every bad field among those given."""
    problems: list[FieldProblem] = []
    if sku is not None and not _SKU.fullmatch(sku):  # match() lets "AB\n" through
        problems.append(FieldProblem("sku", "must be 2-40 of A-Z, 0-9 and '-'"))
    if name is not None and not 1 <= len(name.strip()) <= 200:
        problems.append(FieldProblem("name", "must be 1-200 characters"))
    if description is not None and len(description) > 5000:
        problems.append(FieldProblem("description", "must be at most 5000 characters"))
    if price is not None and price.cents < 0:
        problems.append(FieldProblem("price", "must not be negative"))
    if price is not None and price.cents > MAX_PRICE_CENTS:
        problems.append(FieldProblem("price", f"must be at most {Money(MAX_PRICE_CENTS).amount}"))
    if stock is not None and stock < 0:
        problems.append(FieldProblem("stock", "must not be negative"))
    if stock is not None and stock > MAX_STOCK:
        problems.append(FieldProblem("stock", f"must be at most {MAX_STOCK:,}"))
    if problems:
        raise ValidationError(problems)


def _check_quantity(quantity: int) -> None:
    # A negative reserve would add stock and a negative release would take it below zero.
    if quantity <= 0:
        raise ValidationError.single("quantity", "must be positive")


@dataclass(eq=False, slots=True, kw_only=True)
class Item(RecordsEvents):
    """A catalog entry. Stock never goes negative."""

    sku: str
    name: str
    price: Money
    description: str = ""
    stock: int = 0
    active: bool = True
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    id: int = 0

    def __post_init__(self) -> None:
        check_item_fields(
            sku=self.sku,
            name=self.name,
            price=self.price,
            stock=self.stock,
            description=self.description,
        )
        self.name = self.name.strip()

    def reserve(self, quantity: int) -> None:
        """Take `quantity` from stock; raises OutOfStockError if there is not enough."""
        _check_quantity(quantity)
        if not self.active:
            raise OutOfStockError(self.id, quantity, 0)
        if quantity > self.stock:
            raise OutOfStockError(self.id, quantity, self.stock)
        self.stock -= quantity

    def release(self, quantity: int) -> None:
        """Give back stock that a cancelled order had reserved."""
        _check_quantity(quantity)
        self.stock += quantity

    def change_price(self, price: Money) -> None:
        check_item_fields(price=price)
        if price == self.price:
            return
        previous, self.price = self.price, price
        self.record(ItemPriceChanged(item_id=self.id, previous=previous, current=price))


# Anyone reads the catalog (inactive items: `items:read_inactive`); staff change it.
POLICY = Policy(write="items:write", visible=visible_items)
