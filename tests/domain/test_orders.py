from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.errors import FieldProblem, InvalidTransitionError, ValidationError
from domain.events import OrderPlaced, OrderStatusChanged
from domain.money import Money
from domain.orders import (
    MAX_LINES,
    MAX_QUANTITY,
    TRANSITIONS,
    LineRequest,
    Order,
    OrderLine,
    OrderStatus,
    check_line_requests,
)


def _line(item_id: int, quantity: int = 1, cents: int = 100, currency: str = "USD") -> OrderLine:
    return OrderLine(item_id=item_id, quantity=quantity, unit_price=Money(cents, currency))


def _order(status: OrderStatus = OrderStatus.PLACED) -> Order:
    return Order(id=7, customer_id=3, lines=(_line(1),), status=status)


@st.composite
def order_lines(draw: st.DrawFn, currency: str = "USD") -> tuple[OrderLine, ...]:
    item_ids = draw(st.lists(st.integers(1, 10**6), min_size=1, max_size=MAX_LINES, unique=True))
    return tuple(
        _line(
            item_id,
            draw(st.integers(1, MAX_QUANTITY)),
            draw(st.integers(0, 10**9)),
            currency,
        )
        for item_id in item_ids
    )


@given(order_lines(), st.sampled_from(["USD", "EUR"]))
def test_the_total_is_the_sum_of_the_lines(lines: tuple[OrderLine, ...], currency: str) -> None:
    lines = tuple(
        _line(line.item_id, line.quantity, line.unit_price.cents, currency) for line in lines
    )
    order = Order(customer_id=1, lines=lines)
    expected = sum(line.unit_price.cents * line.quantity for line in lines)
    assert order.total == Money(expected, currency)


def test_a_line_subtotal_is_price_times_quantity() -> None:
    assert _line(1, quantity=3, cents=250).subtotal == Money(750)


def test_item_quantities_map_each_item_to_its_quantity() -> None:
    order = Order(customer_id=1, lines=(_line(4, 2), _line(9, 5)))
    assert order.item_quantities == {4: 2, 9: 5}


def test_an_order_without_lines_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        Order(customer_id=1, lines=())
    assert caught.value.problems == [FieldProblem("lines", "an order needs at least one line")]


def test_every_bad_line_is_listed() -> None:
    lines = [
        LineRequest(1, 0),
        LineRequest(2, MAX_QUANTITY + 1),
        LineRequest(1, 5),
        LineRequest(3, -4),
        LineRequest(3, MAX_QUANTITY),
        LineRequest(4, 1),
    ]
    with pytest.raises(ValidationError) as caught:
        check_line_requests(lines)
    assert caught.value.problems == [
        FieldProblem("lines.0.quantity", f"must be between 1 and {MAX_QUANTITY}"),
        FieldProblem("lines.1.quantity", f"must be between 1 and {MAX_QUANTITY}"),
        FieldProblem("lines.2.itemId", "appears more than once"),
        FieldProblem("lines.3.quantity", f"must be between 1 and {MAX_QUANTITY}"),
        FieldProblem("lines.4.itemId", "appears more than once"),
    ]


def test_quantities_at_the_bounds_are_accepted() -> None:
    order = Order(customer_id=1, lines=(_line(1, 1), _line(2, MAX_QUANTITY)))
    assert order.item_quantities == {1: 1, 2: MAX_QUANTITY}


def test_too_many_lines_are_refused() -> None:
    lines = [LineRequest(item_id, 1) for item_id in range(MAX_LINES + 1)]
    with pytest.raises(ValidationError) as caught:
        check_line_requests(lines)
    assert caught.value.problems == [FieldProblem("lines", f"at most {MAX_LINES} lines per order")]


def test_an_order_with_mixed_currencies_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        Order(customer_id=1, lines=(_line(1, currency="USD"), _line(2, currency="EUR")))
    assert caught.value.problems == [FieldProblem("lines", "all lines must share one currency")]


def test_an_order_lists_bad_lines_and_mixed_currencies_together() -> None:
    lines = (_line(1, 0, currency="USD"), _line(1, 2, currency="EUR"))
    with pytest.raises(ValidationError) as caught:
        Order(customer_id=1, lines=lines)
    assert caught.value.problems == [
        FieldProblem("lines.0.quantity", f"must be between 1 and {MAX_QUANTITY}"),
        FieldProblem("lines.1.itemId", "appears more than once"),
        FieldProblem("lines", "all lines must share one currency"),
    ]


def test_placing_records_order_placed_with_the_total() -> None:
    order = Order(id=5, customer_id=3, lines=(_line(1, 2, 150), _line(2, 1, 99)))
    order.placed()
    events = order.pull_events()
    assert events == [
        OrderPlaced(
            order_id=5,
            customer_id=3,
            total=Money(399),
            occurred_at=events[0].occurred_at,
            event_id=events[0].event_id,
        )
    ]


def test_pulling_events_empties_the_queue() -> None:
    order = _order()
    order.placed()
    order.pull_events()
    assert order.pull_events() == []


@pytest.mark.parametrize(
    ("status", "allowed"),
    [
        (OrderStatus.PLACED, True),
        (OrderStatus.PAID, True),
        (OrderStatus.SHIPPED, False),
        (OrderStatus.DELIVERED, False),
        (OrderStatus.CANCELLED, False),
    ],
)
def test_cancel_is_allowed_only_before_shipping(status: OrderStatus, allowed: bool) -> None:
    assert _order(status).can_become(OrderStatus.CANCELLED) is allowed


def test_cancelling_a_shipped_order_is_refused() -> None:
    order = _order(OrderStatus.SHIPPED)
    with pytest.raises(InvalidTransitionError) as caught:
        order.transition(OrderStatus.CANCELLED)
    assert (caught.value.kind, caught.value.current, caught.value.target, str(caught.value)) == (
        "order",
        "shipped",
        "cancelled",
        "order cannot go from shipped to cancelled",
    )
    assert (order.status, order.pull_events()) == (OrderStatus.SHIPPED, [])


def test_a_transition_stamps_updated_at() -> None:
    order = _order()
    now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    order.transition(OrderStatus.PAID, now=now)
    assert order.updated_at == now


def test_the_happy_path_reaches_delivered() -> None:
    order = _order()
    for status in (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.DELIVERED):
        order.transition(status)
    assert [
        (e.previous, e.current) for e in order.pull_events() if isinstance(e, OrderStatusChanged)
    ] == [
        ("placed", "paid"),
        ("paid", "shipped"),
        ("shipped", "delivered"),
    ]


class OrderStatusMachine(RuleBasedStateMachine):
    """Random transitions either follow TRANSITIONS or are refused without a trace."""

    def __init__(self) -> None:
        super().__init__()
        self.order = Order(id=11, customer_id=4, lines=(_line(1),))
        self.expected = OrderStatus.PLACED

    @rule(status=st.sampled_from(OrderStatus))
    def transition(self, status: OrderStatus) -> None:
        target = status
        before = self.order.status
        if target in TRANSITIONS[before]:
            self.order.transition(target)
            events = self.order.pull_events()
            assert events == [
                OrderStatusChanged(
                    order_id=11,
                    customer_id=4,
                    previous=before.value,
                    current=target.value,
                    occurred_at=events[0].occurred_at,
                    event_id=events[0].event_id,
                )
            ]
            self.expected = target
        else:
            with pytest.raises(InvalidTransitionError) as caught:
                self.order.transition(target)
            assert (caught.value.current, caught.value.target) == (before.value, target.value)
            assert self.order.pull_events() == []

    @invariant()
    def status_matches_the_model(self) -> None:
        assert self.order.status is self.expected

    @invariant()
    def can_become_agrees_with_the_table(self) -> None:
        assert {s for s in OrderStatus if self.order.can_become(s)} == TRANSITIONS[
            self.order.status
        ]

    @invariant()
    def cancel_is_possible_only_before_shipping(self) -> None:
        assert self.order.can_become(OrderStatus.CANCELLED) is (
            self.order.status in {OrderStatus.PLACED, OrderStatus.PAID}
        )


TestOrderStatusMachine = OrderStatusMachine.TestCase
