from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import FieldProblem, OutOfStockError, ValidationError
from domain.events import ItemPriceChanged
from domain.items import Item, check_item_fields
from domain.money import Money

_PRICE = Money(1000)


def _item(stock: int = 5, price: Money = _PRICE, active: bool = True) -> Item:
    return Item(id=42, sku="WIDGET-1", name="Widget", price=price, stock=stock, active=active)


@given(
    st.integers(0, 1000),
    st.lists(
        st.tuples(st.sampled_from(["reserve", "release"]), st.integers(-50, 200)), max_size=30
    ),
)
def test_reserve_and_release_never_take_stock_below_zero(
    stock: int, moves: list[tuple[str, int]]
) -> None:
    item = _item(stock=stock)
    expected = stock
    for move, quantity in moves:
        before = item.stock
        if quantity <= 0:
            with pytest.raises(ValidationError) as refused:
                getattr(item, move)(quantity)
            assert refused.value.problems == [FieldProblem("quantity", "must be positive")]
        elif move == "reserve" and quantity > before:
            with pytest.raises(OutOfStockError) as caught:
                item.reserve(quantity)
            assert (caught.value.item_id, caught.value.requested, caught.value.available) == (
                42,
                quantity,
                before,
            )
        else:
            getattr(item, move)(quantity)
            expected += quantity if move == "release" else -quantity
        assert item.stock == expected
        assert item.stock >= 0


def test_reserving_takes_from_stock() -> None:
    item = _item(stock=5)
    item.reserve(5)
    assert item.stock == 0


def test_reserving_more_than_the_stock_is_refused_with_the_numbers() -> None:
    item = _item(stock=3)
    with pytest.raises(OutOfStockError) as caught:
        item.reserve(4)
    assert (
        caught.value.item_id,
        caught.value.requested,
        caught.value.available,
        str(caught.value),
    ) == (42, 4, 3, "item 42 has 3 in stock, 4 requested")
    assert item.stock == 3


def test_an_inactive_item_has_nothing_to_reserve() -> None:
    item = _item(stock=10, active=False)
    with pytest.raises(OutOfStockError) as caught:
        item.reserve(1)
    assert (caught.value.requested, caught.value.available, item.stock) == (1, 0, 10)


def test_releasing_gives_stock_back() -> None:
    item = _item(stock=2)
    item.release(3)
    assert item.stock == 5


def test_changing_the_price_records_the_change() -> None:
    item = _item(price=Money(1000))
    item.change_price(Money(1250))
    events = item.pull_events()
    assert (item.price, events) == (
        Money(1250),
        [
            ItemPriceChanged(
                item_id=42,
                previous=Money(1000),
                current=Money(1250),
                occurred_at=events[0].occurred_at,
                event_id=events[0].event_id,
            )
        ],
    )


def test_setting_the_same_price_records_nothing() -> None:
    item = _item(price=Money(1000))
    item.change_price(Money(1000))
    assert (item.price, item.pull_events()) == (Money(1000), [])


def test_a_negative_price_is_refused_and_the_price_kept() -> None:
    item = _item(price=Money(1000))
    with pytest.raises(ValidationError) as caught:
        item.change_price(Money(-1))
    assert (caught.value.problems, item.price, item.pull_events()) == (
        [FieldProblem("price", "must not be negative")],
        Money(1000),
        [],
    )


def test_every_bad_item_field_is_listed() -> None:
    with pytest.raises(ValidationError) as caught:
        Item(sku="x", name="   ", price=Money(-5), stock=-1, description="d" * 5001)
    assert caught.value.problems == [
        FieldProblem("sku", "must be 2-40 of A-Z, 0-9 and '-'"),
        FieldProblem("name", "must be 1-200 characters"),
        FieldProblem("description", "must be at most 5000 characters"),
        FieldProblem("price", "must not be negative"),
        FieldProblem("stock", "must not be negative"),
    ]


@pytest.mark.parametrize("sku", ["AB", "A-1", "9" * 40, "WIDGET-2000"])
def test_valid_skus_are_accepted(sku: str) -> None:
    check_item_fields(sku=sku)


@pytest.mark.parametrize("sku", ["A", "-AB", "ab", "A B", "A" * 41, "ÄB", "AB\n"])
def test_invalid_skus_are_refused(sku: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_item_fields(sku=sku)
    assert caught.value.problems == [FieldProblem("sku", "must be 2-40 of A-Z, 0-9 and '-'")]


def test_fields_not_given_are_not_checked() -> None:
    check_item_fields()


def test_the_name_is_stripped() -> None:
    assert Item(sku="AB", name="  Widget \n", price=Money(1)).name == "Widget"


def test_a_name_of_two_hundred_characters_is_accepted_but_not_more() -> None:
    check_item_fields(name="n" * 200)
    with pytest.raises(ValidationError) as caught:
        check_item_fields(name="n" * 201)
    assert caught.value.problems == [FieldProblem("name", "must be 1-200 characters")]
