"""The catalog's `Item`: stored in the hand-written `items` table, exposed to anyone.

Its commands are the catalog's use cases (`domain.services.items.ItemUseCases`): a
unique sku, price changes as events, no deleting an item an order references.
"""

from __future__ import annotations

from strawberry import auto

from domain import items
from domain.model import EQUALITY, Mutation
from domain.services.items import ItemUseCases
from domain.specifications import Op, Specification, field
from schema import exchange_rates
from schema.cache_control import cache_control
from schema.entities import computed_filter, declared, entity
from schema.node import Node


def _in_stock(wanted: bool) -> Specification:
    return field("stock") > 0 if wanted else field("stock") == 0


@cache_control(max_age=60)
@entity(
    items.Item,
    table="items",
    policy=items.POLICY,
    service=ItemUseCases,
    description="A catalog entry.",
    filters={"in_stock": computed_filter(bool, _in_stock)},
    descriptions={
        "items": "The catalog; inactive items are visible to staff only.",
        "create_item": "Add a catalog item (staff).",
        "update_item": "Change a catalog item (staff).",
        "delete_item": "Delete an item no order references (staff).",
    },
)
class Item(Node):
    sku: auto = declared(filters=EQUALITY, orderable=True, write=Mutation.CREATE)
    name: auto = declared(filters={Op.CONTAINS}, orderable=True)
    description: auto = declared(text=True)
    price: auto = declared(
        filters={Op.GE, Op.LE}, orderable=True, columns=("price_cents", "currency")
    )
    stock: auto = declared(orderable=True)
    active: auto = declared(filters=EQUALITY, write=Mutation.UPDATE)
    created_at: auto = declared(orderable=True, write=False)
    price_in = exchange_rates.price_in_field()
