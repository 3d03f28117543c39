from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.money import Money
from domain.specifications import (
    Always,
    And,
    Compare,
    Not,
    Op,
    Or,
    Specification,
    all_of,
    field,
)


@dataclass(frozen=True)
class Row:
    stock: int | None
    name: str | None
    price: Money | None
    active: bool


_ORDERING = [Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE]

small_ints = st.integers(-5, 5)
names = st.text(alphabet="abcABC ", max_size=4)
money = st.builds(Money, st.integers(-5, 5), st.sampled_from(["USD", "EUR"]))

rows = st.builds(
    Row,
    stock=st.none() | small_ints,
    name=st.none() | names,
    price=st.none() | money,
    active=st.booleans(),
)

leaves: st.SearchStrategy[Specification] = st.one_of(
    st.builds(Compare, st.just("stock"), st.sampled_from(_ORDERING), small_ints),
    st.builds(Compare, st.sampled_from(["stock", "name", "price"]), st.just(Op.EQ), st.none()),
    st.builds(
        Compare,
        st.just("stock"),
        st.just(Op.IN),
        st.lists(st.none() | small_ints, max_size=3).map(tuple),
    ),
    st.builds(Compare, st.just("name"), st.sampled_from(_ORDERING), names),
    st.builds(Compare, st.just("name"), st.just(Op.CONTAINS), names),
    st.builds(Compare, st.just("price"), st.sampled_from(_ORDERING), money),
    st.builds(Compare, st.just("active"), st.sampled_from([Op.EQ, Op.NE]), st.booleans()),
    st.just(Always()),
)


def _extend(children: st.SearchStrategy[Specification]) -> st.SearchStrategy[Specification]:
    return st.one_of(
        st.tuples(children, children).map(lambda pair: pair[0] & pair[1]),
        st.tuples(children, children).map(lambda pair: pair[0] | pair[1]),
        children.map(lambda spec: ~spec),
        st.lists(children, max_size=4).map(all_of),
    )


specs = st.recursive(leaves, _extend, max_leaves=12)


@given(specs, specs, rows)
def test_and_holds_when_both_hold(a: Specification, b: Specification, row: Row) -> None:
    assert (a & b).is_satisfied_by(row) == (a.is_satisfied_by(row) and b.is_satisfied_by(row))


@given(specs, specs, rows)
def test_or_holds_when_either_holds(a: Specification, b: Specification, row: Row) -> None:
    assert (a | b).is_satisfied_by(row) == (a.is_satisfied_by(row) or b.is_satisfied_by(row))


@given(specs, rows)
def test_not_negates(a: Specification, row: Row) -> None:
    assert (~a).is_satisfied_by(row) == (not a.is_satisfied_by(row))


@given(specs, rows)
def test_double_negation_is_the_identity(a: Specification, row: Row) -> None:
    assert (~~a).is_satisfied_by(row) == a.is_satisfied_by(row)


@given(specs, specs, rows)
def test_not_and_is_or_of_nots(a: Specification, b: Specification, row: Row) -> None:
    assert (~(a & b)).is_satisfied_by(row) == (~a | ~b).is_satisfied_by(row)


@given(specs, specs, rows)
def test_not_or_is_and_of_nots(a: Specification, b: Specification, row: Row) -> None:
    assert (~(a | b)).is_satisfied_by(row) == (~a & ~b).is_satisfied_by(row)


@given(specs, rows)
def test_always_is_the_identity_of_and(a: Specification, row: Row) -> None:
    expected = a.is_satisfied_by(row)
    assert ((Always() & a).is_satisfied_by(row), (a & Always()).is_satisfied_by(row)) == (
        expected,
        expected,
    )


@given(specs, rows)
def test_always_absorbs_or(a: Specification, row: Row) -> None:
    assert (a | Always()).is_satisfied_by(row) is True


@given(st.lists(specs, max_size=5), rows)
def test_all_of_holds_when_every_part_holds(parts: list[Specification], row: Row) -> None:
    assert all_of(parts).is_satisfied_by(row) == all(p.is_satisfied_by(row) for p in parts)


@given(rows)
def test_all_of_nothing_is_always(row: Row) -> None:
    assert (all_of([]), all_of([]).is_satisfied_by(row)) == (Always(), True)


def test_all_of_one_part_is_that_part() -> None:
    spec = field("stock") > 0
    assert all_of([spec]) is spec


def test_operators_build_the_expected_tree() -> None:
    a, b = field("stock") > 0, field("name").contains("x")
    assert ((a & b), (a | b), ~a, all_of([a, b])) == (
        And((a, b)),
        Or((a, b)),
        Not(a),
        And((a, b)),
    )


def test_field_helpers_build_comparisons() -> None:
    assert [
        field("f") == 1,
        field("f") != 1,
        field("f") < 1,
        field("f") <= 1,
        field("f") > 1,
        field("f") >= 1,
        field("f").is_in([1, 2]),
        field("f").contains("x"),
    ] == [
        Compare("f", Op.EQ, 1),
        Compare("f", Op.NE, 1),
        Compare("f", Op.LT, 1),
        Compare("f", Op.LE, 1),
        Compare("f", Op.GT, 1),
        Compare("f", Op.GE, 1),
        Compare("f", Op.IN, (1, 2)),
        Compare("f", Op.CONTAINS, "x"),
    ]


def _row(
    stock: int | None = 1,
    name: str | None = "Blue Widget",
    price: Money | None = None,
    active: bool = True,
) -> Row:
    return Row(stock=stock, name=name, price=price, active=active)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (field("stock") == 1, True),
        (field("stock") != 1, False),
        (field("stock") < 2, True),
        (field("stock") <= 1, True),
        (field("stock") > 1, False),
        (field("stock") >= 1, True),
        (field("stock").is_in([0, 1]), True),
        (field("stock").is_in([]), False),
        (field("active") == True, True),  # noqa: E712  # builds a specification
    ],
)
def test_comparisons_evaluate_against_the_attribute(spec: Specification, expected: bool) -> None:
    assert spec.is_satisfied_by(_row()) is expected


@pytest.mark.parametrize("needle", ["widget", "BLUE W", "Blue Widget", "", "e w"])
def test_contains_ignores_ascii_case(needle: str) -> None:
    assert field("name").contains(needle).is_satisfied_by(_row(name="Blue Widget")) is True


@pytest.mark.parametrize(("needle", "name"), [("red", "Blue Widget"), ("é", "É"), ("ß", "SS")])
def test_contains_does_not_fold_beyond_ascii(needle: str, name: str) -> None:
    assert field("name").contains(needle).is_satisfied_by(_row(name=name)) is False


@given(st.text(alphabet=st.characters(max_codepoint=127)), st.text(max_size=5), st.text(max_size=5))
def test_contains_finds_any_ascii_text_whatever_its_case(
    needle: str, before: str, after: str
) -> None:
    name = before + needle.swapcase() + after
    assert field("name").contains(needle).is_satisfied_by(_row(name=name)) is True


@pytest.mark.parametrize("op", _ORDERING)
@pytest.mark.parametrize(
    ("attribute", "value"),
    [("stock", 0), ("name", "x"), ("price", Money(0)), ("price", Money(0, "EUR"))],
)
def test_a_comparison_with_a_none_attribute_is_never_true(
    op: Op, attribute: str, value: object
) -> None:
    row = Row(stock=None, name=None, price=None, active=True)
    assert Compare(attribute, op, value).is_satisfied_by(row) is False


@pytest.mark.parametrize("attribute", ["stock", "name", "price"])
def test_equality_with_none_is_never_true(attribute: str) -> None:
    rows = [_row(stock=3, name="x", price=Money(3)), Row(None, None, None, active=True)]
    assert [Compare(attribute, Op.EQ, None).is_satisfied_by(row) for row in rows] == [False, False]


@pytest.mark.parametrize("op", _ORDERING)
def test_money_in_another_currency_never_compares_true(op: Op) -> None:
    row = _row(price=Money(500, "USD"))
    assert Compare("price", op, Money(500, "EUR")).is_satisfied_by(row) is False


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (field("price") == Money(500), True),
        (field("price") != Money(500), False),
        (field("price") < Money(501), True),
        (field("price") <= Money(499), False),
        (field("price") > Money(499), True),
        (field("price") >= Money(501), False),
    ],
)
def test_money_in_the_same_currency_compares_by_cents(spec: Specification, expected: bool) -> None:
    assert spec.is_satisfied_by(_row(price=Money(500, "USD"))) is expected


def test_a_plain_specification_must_be_subclassed() -> None:
    with pytest.raises(NotImplementedError):
        Specification().is_satisfied_by(_row())
