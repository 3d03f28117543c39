"""Event handlers: application code reacting to committed events, after the commit.

A handler is registered for event types under a stable name:

    handlers = EventHandlers()

    @handlers.on(OrderStatusChanged, name="mail-when-shipped")
    async def mail_when_shipped(event: DomainEvent) -> None: ...

Delivery is at least once (a crash re-delivers), in order for each aggregate; the
worker skips an event a handler already completed (by `event_id`), retries a failing
one with exponential backoff and dead-letters it after the last attempt. The handler's
name keys all of that, so renaming a handler makes it see the retained events again.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from domain.events import DomainEvent

type Handle = Callable[[DomainEvent], Awaitable[None]]

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


@dataclass(frozen=True, slots=True)
class Handler:
    """One registered handler: its name, the event types it takes, the function."""

    name: str
    event_types: tuple[type[DomainEvent], ...]
    handle: Handle

    def wants(self, event: DomainEvent) -> bool:
        return isinstance(event, self.event_types)


class EventHandlers:
    """The handlers of an application, by name; raises ValueError for a clashing name."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def add(self, name: str, event_types: tuple[type[DomainEvent], ...], handle: Handle) -> None:
        """Register `handle` for `event_types`; raises ValueError for a bad or taken name."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"handler name {name!r}: lower-case letters, digits and dashes")
        if name in self._handlers:
            raise ValueError(f"handler name {name!r} is already registered")
        if not event_types:
            raise ValueError(f"handler {name!r} names no event type")
        self._handlers[name] = Handler(name, event_types, handle)

    def on(self, *event_types: type[DomainEvent], name: str) -> Callable[[Handle], Handle]:
        """Decorator form of `add`."""

        def register(handle: Handle) -> Handle:
            self.add(name, event_types, handle)
            return handle

        return register

    def __iter__(self) -> Iterator[Handler]:
        return iter(self._handlers.values())

    def __len__(self) -> int:
        return len(self._handlers)

    def for_event(self, event: DomainEvent) -> list[Handler]:
        return [handler for handler in self._handlers.values() if handler.wants(event)]
