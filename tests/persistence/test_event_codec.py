"""Events cross replicas as JSON: a type name and fields, Money as cents+currency, ISO times."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from domain.events import DomainEvent, ItemPriceChanged, OrderPlaced, OrderStatusChanged
from domain.money import Money
from persistence.event_codec import UnknownEventError, decode_event, encode_event

MOMENT = datetime(2026, 11, 27, 4, 5, 6, 789, tzinfo=UTC)


@pytest.mark.parametrize(
    "event",
    [
        OrderPlaced(order_id=1, customer_id=2, total=Money(1999, "EUR"), occurred_at=MOMENT),
        OrderStatusChanged(
            order_id=1, customer_id=2, previous="placed", current="paid", occurred_at=MOMENT
        ),
        ItemPriceChanged(item_id=3, previous=Money(999), current=Money(1250), occurred_at=MOMENT),
    ],
)
def test_an_event_survives_the_round_trip(event: DomainEvent) -> None:
    assert decode_event(encode_event(event)) == event


def test_the_wire_format_is_plain_json() -> None:
    event = ItemPriceChanged(
        item_id=3, previous=Money(999), current=Money(1250), occurred_at=MOMENT, event_id="e1"
    )
    assert json.loads(encode_event(event)) == {
        "type": "ItemPriceChanged",
        "fields": {
            "occurred_at": "2026-11-27T04:05:06.000789+00:00",
            "event_id": "e1",
            "item_id": 3,
            "previous": {"cents": 999, "currency": "USD"},
            "current": {"cents": 1250, "currency": "USD"},
        },
    }


def test_an_unknown_event_type_is_refused() -> None:
    with pytest.raises(UnknownEventError):
        decode_event('{"type": "Nope", "fields": {}}')
