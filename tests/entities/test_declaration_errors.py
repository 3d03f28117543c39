"""A declaration that cannot work stops start-up with one line naming entity and field."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import pytest
from strawberry import auto

from domain.expressions import Expression, product, sum_of
from domain.model import DeclarationError, Policy
from domain.money import Money
from gateway.container import build_container, checked_entities
from gateway.settings import Settings
from schema.declarations import application
from schema.entities import (
    computed,
    count_of,
    declaration_of,
    declared,
    entity,
    many_to_many,
    many_to_one,
)
from schema.node import Node


@dataclass(kw_only=True)
class Gauge:
    label: str
    reading: complex = 0j
    id: int = 0


@dataclass(kw_only=True)
class Part:
    label: str
    maker_id: int | None = None
    id: int = 0


def test_an_unknown_field_type_is_refused_when_declared() -> None:
    with pytest.raises(DeclarationError) as refused:

        @entity(Gauge, table="gauges")
        class GaugeType(Node):
            label: auto = declared()

    assert str(refused.value) == "entity GaugeType, field reading: unknown field type complex"


def test_a_relationship_to_a_missing_entity_stops_start_up(tmp_path: object) -> None:
    @entity(Part, table="parts", policy=Policy(write="items:write"))
    class BrokenPart(Node):
        label: auto = declared()
        maker: auto = many_to_one("maker_id", "Maker")

    with pytest.raises(DeclarationError) as refused:
        checked_entities([declaration_of(BrokenPart)])
    assert str(refused.value) == "entity BrokenPart, field maker_id: refers to unknown entity Maker"


def test_a_policy_naming_an_unknown_permission_stops_start_up() -> None:
    @entity(Part, table="parts", policy=Policy(write="parts:wirte"))
    class MisspeltPart(Node):
        label: auto = declared()

    settings = Settings(database={"url": "sqlite+aiosqlite:///:memory:"})
    with pytest.raises(DeclarationError) as refused:
        build_container(settings, entities=[declaration_of(MisspeltPart)])
    assert (
        str(refused.value)
        == "entity MisspeltPart, field policy.write: unknown permission parts:wirte"
    )


def test_a_field_readable_under_an_unknown_permission_stops_start_up() -> None:
    @entity(Part, table="parts", policy=Policy(write="items:write"))
    class SecretPart(Node):
        label: auto = declared(read="parts:peek")

    with pytest.raises(DeclarationError) as refused:
        checked_entities([declaration_of(SecretPart)])
    assert str(refused.value) == "entity SecretPart, field label: unknown permission parts:peek"


def test_a_count_of_no_one_to_many_relation_is_refused_when_declared() -> None:
    with pytest.raises(DeclarationError) as refused:

        @entity(Part, table="parts", policy=Policy(write="items:write"))
        class CountingPart(Node):
            label: auto = declared()
            maker: auto = many_to_one("maker_id", "User")
            makers: int = count_of("maker")

    assert str(refused.value) == (
        "entity CountingPart, field makers: counts maker, which is no one-to-many relation"
    )


def test_a_field_owned_by_no_attribute_stops_start_up() -> None:
    @entity(Part, table="parts", policy=Policy(write="items:write"))
    class OwnedPart(Node):
        label: auto = declared(read="items:write", owner="keeper_id")

    with pytest.raises(DeclarationError) as refused:
        checked_entities([declaration_of(OwnedPart)])
    assert str(refused.value) == "entity OwnedPart, field label: owner keeper_id is no attribute"


@dataclass(kw_only=True)
class Bill:
    label: str
    hours: int = 0
    rate: Money = field(default_factory=Money.zero)
    fee: Money = field(default_factory=Money.zero)
    discount: int | None = None
    id: int = 0


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (product("rate", "fee"), "a product may hold one amount of money at most"),
        (product("hours", "discount"), "BillType.discount may be null"),
        (product("hours", "label"), "BillType.label is no count nor money"),
        (product("hours", "minutes"), "BillType has no attribute minutes"),
        (product("hours", "total"), "computed from itself"),
    ],
)
def test_a_computed_field_that_cannot_be_computed_stops_start_up(
    expression: Expression, message: str
) -> None:
    @entity(Bill, table="bills", policy=Policy(write="items:write"))
    class BillType(Node):
        label: auto = declared()
        total: int = computed(expression)

    with pytest.raises(DeclarationError) as refused:
        checked_entities([declaration_of(BillType)])
    assert str(refused.value) == f"entity BillType, field total: {message}"


def test_a_sum_over_no_one_to_many_relation_is_refused_when_declared() -> None:
    with pytest.raises(DeclarationError) as refused:

        @entity(Part, table="parts", policy=Policy(write="items:write"))
        class SummingPart(Node):
            label: auto = declared()
            maker: auto = many_to_one("maker_id", "User")
            spent: int = computed(sum_of("maker", "hours"))

    assert str(refused.value) == (
        "entity SummingPart, field spent: sums over maker, which is no one-to-many relation"
    )


class Shade(enum.Enum):
    LIGHT = 1
    DARK = 2


@dataclass(kw_only=True)
class Lamp:
    shade: Shade = Shade.LIGHT
    id: int = 0


def test_an_enum_attribute_needs_str_values() -> None:
    with pytest.raises(DeclarationError) as refused:

        @entity(Lamp, table="lamps")
        class LampType(Node):
            shade: auto = declared()

    assert str(refused.value) == "entity LampType, field shade: Shade is no StrEnum"


@dataclass(kw_only=True)
class Shelf:
    label: str
    id: int = 0


@dataclass(kw_only=True)
class Placement:
    shelf_id: int
    item_id: int
    id: int = 0


def _shelves(through: str, key: str, target_key: str) -> type:
    @entity(Shelf, table="shelves", policy=Policy(write="items:write"))
    class ShelfType(Node):
        label: auto = declared()
        items: auto = many_to_many("Item", through=through, key=key, target_key=target_key)

    return ShelfType


@entity(Placement, table="placements", policy=Policy(write="items:write"))
class PlacementType(Node):
    shelf: auto = many_to_one("shelf_id", "ShelfType")
    item: auto = many_to_one("item_id", "Item")


@pytest.mark.parametrize(
    ("through", "key", "target_key", "message"),
    [
        ("Placing", "shelf_id", "item_id", "refers to unknown entity Placing"),
        ("Item", "shelf_id", "item_id", "Item.shelf_id is no reference to ShelfType"),
        ("PlacementType", "shelf", "item_id", "PlacementType.shelf is no reference to ShelfType"),
        ("PlacementType", "shelf_id", "id", "PlacementType.id is no reference to Item"),
        (
            "PlacementType",
            "item_id",
            "shelf_id",
            "PlacementType.item_id is no reference to ShelfType",
        ),
    ],
)
def test_a_many_to_many_through_no_declared_association_stops_start_up(
    through: str, key: str, target_key: str, message: str
) -> None:
    shelves = _shelves(through, key, target_key)
    with pytest.raises(DeclarationError) as refused:
        checked_entities([*application(), declaration_of(shelves), declaration_of(PlacementType)])
    assert str(refused.value) == f"entity ShelfType, field items: {message}"


def test_a_many_to_many_through_a_declared_association_starts() -> None:
    shelves = _shelves("PlacementType", "shelf_id", "item_id")
    declared = [declaration_of(shelves), declaration_of(PlacementType)]
    entities, _ = checked_entities([*application(), *declared])
    assert [model.name for model in entities][-2:] == ["ShelfType", "PlacementType"]
