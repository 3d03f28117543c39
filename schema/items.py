"""Catalog types: Item, its filter and sort inputs, and the item mutation inputs."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

import strawberry

from domain import items as domain_items
from domain.services.items import ItemChanges
from domain.specifications import Specification, all_of, any_of, field
from schema.money import Money, MoneyInput
from schema.node import Node, to_global_id
from schema.pagination import OrderDirection


@strawberry.type(description="A catalog entry.")
class Item(Node):
    sku: str
    name: str
    description: str
    price: Money
    stock: int
    active: bool
    created_at: datetime
    pk: strawberry.Private[int]

    @classmethod
    def from_domain(cls, item: domain_items.Item) -> Item:
        return cls(
            id=to_global_id("Item", item.id),
            pk=item.id,
            sku=item.sku,
            name=item.name,
            description=item.description,
            price=Money.from_domain(item.price),
            stock=item.stock,
            active=item.active,
            created_at=item.created_at,
        )


@strawberry.input(description="Conditions on items; all given conditions must hold.")
class ItemFilter:
    name_contains: str | None = None
    sku: str | None = None
    price_at_least: MoneyInput | None = None
    price_at_most: MoneyInput | None = None
    in_stock: bool | None = None
    active: bool | None = None
    and_: list[ItemFilter] | None = strawberry.field(name="and", default=None)
    or_: list[ItemFilter] | None = strawberry.field(name="or", default=None)
    not_: ItemFilter | None = strawberry.field(name="not", default=None)

    def to_spec(self) -> Specification:
        parts: list[Specification] = []
        if self.name_contains is not None:
            parts.append(field("name").contains(self.name_contains))
        if self.sku is not None:
            parts.append(field("sku") == self.sku)
        if self.price_at_least is not None:
            parts.append(field("price") >= self.price_at_least.to_domain())
        if self.price_at_most is not None:
            parts.append(field("price") <= self.price_at_most.to_domain())
        if self.in_stock is not None:
            parts.append(field("stock") > 0 if self.in_stock else field("stock") == 0)
        if self.active is not None:
            parts.append(field("active") == self.active)
        parts.extend(f.to_spec() for f in self.and_ or [])
        if self.or_:
            parts.append(any_of(f.to_spec() for f in self.or_))
        if self.not_ is not None:
            parts.append(~self.not_.to_spec())
        return all_of(parts)


@strawberry.enum
class ItemOrderField(enum.Enum):
    ID = "id"
    SKU = "sku"
    NAME = "name"
    PRICE = "price"
    STOCK = "stock"
    CREATED_AT = "created_at"


@strawberry.input(description="How to sort items; ties are broken by id.")
class ItemOrder:
    field: ItemOrderField = ItemOrderField.ID
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input
class CreateItemInput:
    sku: str
    name: str
    price: MoneyInput
    description: str = ""
    stock: int = 0


@strawberry.input(description="Fields to change; omitted fields stay as they are.")
class UpdateItemInput:
    name: str | None = None
    description: str | None = None
    price: MoneyInput | None = None
    stock: int | None = None
    active: bool | None = None

    def to_changes(self) -> ItemChanges:
        return ItemChanges(
            name=self.name,
            description=self.description,
            price=self.price.to_domain() if self.price else None,
            stock=self.stock,
            active=self.active,
        )


ItemRef = Annotated["Item", strawberry.lazy("schema.items")]
