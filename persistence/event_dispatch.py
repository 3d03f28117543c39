"""The embedded default's event sink: subscriptions and handlers in this process.

The relay hands each batch to `InProcessDispatch.publish`, which fans it out to the
subscribers, then runs every handler that wants each event, in order, before the relay
marks the batch published: a crash before that runs them again after the restart (the
handlers' completions are remembered, so a repeat has no second effect while this
process lives). An event a handler gives up on is kept in `dead_letters` (and logged).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from domain.events import DomainEvent
from domain.handlers import EventHandlers
from domain.ports import EventPublisher
from persistence.handler_runner import HandlerRunner, Outcome


@dataclass(frozen=True, slots=True)
class DeadLetter:
    handler: str
    event: DomainEvent
    error: str
    attempts: int


class InProcessDispatch:
    """`domain.ports.EventPublisher`: `bus` first, then the handlers, event by event."""

    def __init__(
        self,
        bus: EventPublisher,
        handlers: EventHandlers,
        runner: HandlerRunner,
        *,
        keep_dead: int = 1_000,
    ) -> None:
        self._bus, self._handlers, self._runner = bus, handlers, runner
        self.dead_letters: deque[DeadLetter] = deque(maxlen=keep_dead)

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        await self._bus.publish(events)
        for event in events:
            for handler in self._handlers.for_event(event):
                result = await self._runner.run(handler, event)
                if result.outcome is Outcome.DEAD:
                    self.dead_letters.append(
                        DeadLetter(handler.name, event, result.error or "", result.attempts)
                    )
