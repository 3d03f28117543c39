"""Domain events as JSON text: how the outbox stores them and streams carry them.

A type name and the event's fields (Money as cents and currency, times in ISO 8601).
Every `DomainEvent` subclass is known by its class name, found when first needed, so a
new event type (a declared entity's among them) needs no registration here.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from datetime import datetime
from typing import Any

from domain.events import DomainEvent
from domain.money import Money


class UnknownEventError(ValueError):
    """A message names an event type this process does not know (version skew)."""


def _subclasses(cls: type[DomainEvent]) -> list[type[DomainEvent]]:
    found: list[type[DomainEvent]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def event_type(name: str) -> type[DomainEvent]:
    """The event class called `name`; raises UnknownEventError."""
    # `dataclass(slots=True)` replaces the class it decorates; the discarded one lingers
    # among `__subclasses__()` until collected, so only the class its module names counts.
    for cls in _subclasses(DomainEvent):
        named: object = getattr(sys.modules.get(cls.__module__), cls.__qualname__, None)
        if cls.__name__ == name and named is cls:
            return cls
    raise UnknownEventError(f"unknown event type {name!r}")


def _encode_value(value: object) -> object:
    if isinstance(value, Money):
        return {"cents": value.cents, "currency": value.currency}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def encode_event(event: DomainEvent) -> str:
    """JSON text: the event's type name and its fields (Money as cents+currency, ISO times)."""
    fields = {f.name: _encode_value(getattr(event, f.name)) for f in dataclasses.fields(event)}
    return json.dumps({"type": type(event).__name__, "fields": fields}, separators=(",", ":"))


def _decode_value(hint: object, value: Any) -> object:
    if value is None:
        return None
    if isinstance(hint, types.UnionType):  # `datetime | None`: the type that is not None
        others = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        hint = others[0] if len(others) == 1 else hint
    if hint is Money:
        return Money(int(value["cents"]), str(value["currency"]))
    if hint is datetime:
        return datetime.fromisoformat(value)
    return value


def decode_event(raw: str | bytes) -> DomainEvent:
    """The event `encode_event` wrote; raises UnknownEventError or ValueError if malformed."""
    try:
        message = json.loads(raw)
        cls = event_type(str(message.get("type")))
        fields = message["fields"]
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {
            name: _decode_value(hints.get(name), value) for name, value in fields.items()
        }
        return cls(**values)
    except UnknownEventError:
        raise
    except (TypeError, KeyError, AttributeError, ValueError) as exc:
        raise ValueError(f"malformed event message: {exc}") from None
