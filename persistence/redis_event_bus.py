"""Event bus across replicas: Redis pub/sub in, bounded local queues out.

Publishing goes to Redis only; every process (the publishing one included) receives
each event once through its single channel subscription and fans it out to its own
subscribers. Never delivering locally as well is what makes delivery exactly once per
connection. Pub/sub is at-most-once: a process that is disconnected from Redis when an
event is published misses it (clients resynchronise on reconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import typing
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from domain import events as domain_events
from domain.events import DomainEvent
from domain.money import Money
from persistence.event_bus import DEFAULT_QUEUE_SIZE, InProcessEventBus, Subscription
from persistence.outages import Outage

logger = logging.getLogger(__name__)

DEFAULT_CHANNEL = "gateway:events"
# The reconnection delay doubles from the first to the last while Redis stays away.
RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 10.0
POLL_SECONDS = 1.0

EVENT_TYPES: Mapping[str, type[DomainEvent]] = {
    cls.__name__: cls
    for cls in (
        domain_events.OrderPlaced,
        domain_events.OrderStatusChanged,
        domain_events.ItemPriceChanged,
        domain_events.EntityCreated,
        domain_events.EntityUpdated,
        domain_events.EntityDeleted,
    )
}


class UnknownEventError(ValueError):
    """A message names an event type this process does not know (version skew)."""


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
    if hint is Money:
        return Money(int(value["cents"]), str(value["currency"]))
    if hint is datetime:
        return datetime.fromisoformat(value)
    return value


def decode_event(raw: str | bytes) -> DomainEvent:
    """The event `encode_event` wrote; raises UnknownEventError or ValueError if malformed."""
    message = json.loads(raw)
    cls = EVENT_TYPES.get(message.get("type"))
    if cls is None:
        raise UnknownEventError(f"unknown event type {message.get('type')!r}")
    hints = typing.get_type_hints(cls)
    fields = message["fields"]
    values = {name: _decode_value(hints.get(name), value) for name, value in fields.items()}
    try:
        return cls(**values)  # type: ignore[arg-type]  # each value is decoded per its field's hint
    except TypeError as exc:
        raise ValueError(f"malformed {cls.__name__}: {exc}") from None


class RedisEventBus:
    """`domain.ports.EventPublisher` over Redis pub/sub, with the in-process subscribe API.

    One Redis subscription per process, opened when the first local subscriber
    arrives and kept until `aclose`; local subscribers get bounded queues.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        channel: str = DEFAULT_CHANNEL,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> None:
        self._redis = redis
        self.channel = channel
        self._local = InProcessEventBus(queue_size=queue_size)
        self._listener: asyncio.Task[None] | None = None
        self._ready: asyncio.Event | None = None
        self._closed = False
        self._listening = Outage("redis", component="event bus (subscribe)")
        self._publishing = Outage("redis", component="event bus (publish)")

    @property
    def subscriber_count(self) -> int:
        return self._local.subscriber_count

    def subscribe(
        self, event_types: Collection[type[DomainEvent]] = (), *, queue_size: int | None = None
    ) -> Subscription:
        """Receive events of these types from every replica until closed (see `ready`)."""
        subscription = self._local.subscribe(event_types, queue_size=queue_size)
        self._ensure_listening()
        return subscription

    async def ready(self) -> None:
        """Wait until this process's Redis subscription is live (events published after arrive)."""
        ready = self._ensure_listening()
        await ready.wait()

    def _ensure_listening(self) -> asyncio.Event:
        if self._closed:
            raise RuntimeError("the event bus is closed")
        if self._ready is None:
            self._ready = asyncio.Event()
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen(self._ready), name="event-bus-redis")
        return self._ready

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        """Publish to every replica; a Redis failure is logged, never raised (already committed)."""
        if not events:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for event in events:
                    pipe.publish(self.channel, encode_event(event))
                await pipe.execute()
        except Exception as error:  # committed: failing the caller would mislead it
            self._publishing.failed(error)
        else:
            self._publishing.succeeded()

    async def _listen(self, ready: asyncio.Event) -> None:
        delay = RECONNECT_MIN_SECONDS
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._listening.succeeded()
                delay = RECONNECT_MIN_SECONDS
                ready.set()
                while True:
                    # A bounded wait, not `listen()`: the client's socket timeout is short
                    # (a hung Redis must fail fast), and a quiet channel is not a failure.
                    message = await pubsub.get_message(timeout=POLL_SECONDS)
                    if message is not None and message.get("type") == "message":
                        await self._deliver(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as error:  # keep serving after a Redis outage
                # One line when the outage starts, a summary while it lasts, one when it
                # ends (persistence.outages); never a traceback per reconnection attempt.
                self._listening.failed(error)
                if _cancelling():
                    raise asyncio.CancelledError from error  # a library turned it into an error
            finally:
                with contextlib.suppress(Exception):
                    await self._release(pubsub)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _release(self, pubsub: Any) -> None:
        try:
            await pubsub.unsubscribe(self.channel)
        finally:
            await pubsub.aclose()

    async def _deliver(self, raw: str | bytes) -> None:
        try:
            event = decode_event(raw)
        except ValueError:
            logger.warning("ignored an event message this process cannot read", exc_info=True)
            return
        await self._local.publish([event])

    async def aclose(self) -> None:
        """Stop listening and release the Redis subscription; subscribers' iterators end."""
        self._closed = True
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        self._local.close_all()


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
