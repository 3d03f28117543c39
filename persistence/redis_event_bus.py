"""Event bus across replicas: a Redis stream in, bounded local queues out.

The outbox relay appends each committed event to one stream (XADD, trimmed to about
`max_length` entries); every process reads that stream from the position where it
started listening (XREAD, no consumer group: each replica sees every event) and fans
each entry out to its own subscribers. Never delivering locally as well is what makes
delivery exactly once per connection. A process that loses Redis for a while resumes
from the last entry it read, so it misses nothing still in the stream. A subscriber
that reconnects with the id of the last entry it saw is given the entries after it
(XRANGE, at most `resume_window` of them), then the live ones. Handlers that
must each see an event once read the same stream through a consumer group
(`persistence.stream_consumer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection, Sequence
from typing import cast

from redis.asyncio import Redis

from domain.errors import ResumeExpiredError
from domain.events import DomainEvent
from persistence.event_bus import (
    DEFAULT_QUEUE_SIZE,
    Delivery,
    InProcessEventBus,
    Ordinal,
    Subscription,
    not_an_event_id,
)
from persistence.event_codec import decode_event, encode_event
from persistence.outages import Outage
from persistence.stream_worker import partition_of, partition_stream

logger = logging.getLogger(__name__)

DEFAULT_STREAM = "gateway:events"
DEFAULT_MAX_LENGTH = 100_000
EVENT_FIELD = b"event"
# The reconnection delay doubles from the first to the last while Redis stays away.
RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 10.0
READ_BLOCK_MAX_MILLISECONDS = 1_000
READ_COUNT = 100


# An entry as redis-py returns it without decode_responses: its id and its fields.
type Entry = tuple[bytes, dict[bytes, bytes]]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def stream_ordinal(entry_id: str) -> Ordinal:
    """A stream entry id (`<milliseconds>-<sequence>`) as two integers; raises
    ValidationError if it is not one."""
    milliseconds, _, sequence = entry_id.partition("-")
    if not (milliseconds.isdecimal() and sequence.isdecimal()) or len(entry_id) > 41:
        raise not_an_event_id(entry_id)
    return int(milliseconds), int(sequence)


def _read_block_milliseconds(redis: Redis) -> int:
    # A blocking XREAD must answer within the client's socket timeout (kept short so a
    # hung Redis fails fast), or an idle stream would look like a failing Redis.
    timeout = redis.connection_pool.connection_kwargs.get("socket_timeout")
    if not isinstance(timeout, int | float) or timeout <= 0:
        return READ_BLOCK_MAX_MILLISECONDS
    return max(10, min(READ_BLOCK_MAX_MILLISECONDS, int(timeout * 800)))


class RedisEventBus:
    """`domain.ports.EventPublisher` over a Redis stream, with the in-process subscribe API.

    One reader task per process, started with the first local subscriber and kept until
    `aclose`; local subscribers get bounded queues.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        stream: str = DEFAULT_STREAM,
        max_length: int = DEFAULT_MAX_LENGTH,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        handler_partitions: int = 0,
        resume_window: int = 0,
    ) -> None:
        self._redis = redis
        self._window = resume_window
        self.stream = stream
        # With handlers, each event also goes to its aggregate's partition stream.
        self._partitions = handler_partitions
        self._max_length = max_length
        self._local = InProcessEventBus(queue_size=queue_size)
        self._listener: asyncio.Task[None] | None = None
        self._ready: asyncio.Event | None = None
        self._closed = False
        self._block_ms = _read_block_milliseconds(redis)
        self._reading = Outage("redis", component="event bus (stream reader)")
        # The id of the last entry handed to local subscribers.
        self.position: str | None = None

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
        """Wait until this process reads the stream (events appended after arrive)."""
        ready = self._ensure_listening()
        await ready.wait()

    async def resume(
        self,
        event_types: Collection[type[DomainEvent]],
        after: str,
        *,
        queue_size: int | None = None,
    ) -> Subscription:
        """Like `subscribe`, first replaying the stream's entries after the id `after`;
        raises ValidationError (not an id) or ResumeExpiredError (not kept any more)."""
        start = stream_ordinal(after)
        await self.ready()
        # Live from here: the reader hands out the entries after `upto` (no await between).
        subscription = self.subscribe(event_types, queue_size=queue_size)
        upto = self.position or "0-0"
        try:
            # From `after` itself: finding it proves nothing between was trimmed away.
            # An id this replica has not read yet needs only that proof.
            entries = cast(
                "list[Entry]",
                await self._redis.xrange(
                    self.stream,
                    min=after,
                    max=upto if start < stream_ordinal(upto) else after,
                    count=self._window + 2,
                ),
            )
            if not entries or _text(entries[0][0]) != after or len(entries) > self._window + 1:
                raise ResumeExpiredError(after, self._window)
            missed = [
                Delivery(event, _text(entry_id), stream_ordinal(_text(entry_id)))
                for entry_id, fields in entries[1:]
                if (event := _readable(fields.get(EVENT_FIELD))) is not None
            ]
        except BaseException:
            subscription.close()
            raise
        subscription.catch_up(start, missed)
        return subscription

    def _ensure_listening(self) -> asyncio.Event:
        if self._closed:
            raise RuntimeError("the event bus is closed")
        if self._ready is None:
            self._ready = asyncio.Event()
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen(self._ready), name="event-bus-redis")
        return self._ready

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        """Append to the stream (and the handlers' partitions) in order, in one
        transaction; raises if Redis refuses."""
        if not events:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            for event in events:
                fields = {EVENT_FIELD: encode_event(event)}
                pipe.xadd(self.stream, fields, maxlen=self._max_length, approximate=True)  # type: ignore[arg-type]  # bytes keys are fine
                if self._partitions:
                    partition = partition_of(event.aggregate, self._partitions)
                    pipe.xadd(
                        partition_stream(self.stream, partition),
                        fields,  # type: ignore[arg-type]  # bytes keys are fine
                        maxlen=self._max_length,
                        approximate=True,
                    )
            await pipe.execute()

    async def _start_position(self) -> str:
        # The newest entry now: anything appended after it has a greater id. Reading
        # from "$" instead would miss what is appended before the first XREAD arrives.
        newest = cast(
            "list[Entry]", await self._redis.xrevrange(self.stream, count=1)
        )  # bytes mode
        return _text(newest[0][0]) if newest else "0-0"

    async def _listen(self, ready: asyncio.Event) -> None:
        delay = RECONNECT_MIN_SECONDS
        while True:
            try:
                if self.position is None:
                    self.position = await self._start_position()
                ready.set()
                while True:
                    answer = cast(  # RESP2 without decode_responses: [[stream, entries]]
                        "list[tuple[bytes, list[Entry]]] | None",
                        await self._redis.xread(
                            {self.stream: self.position},
                            count=READ_COUNT,
                            block=self._block_ms,
                        ),
                    )
                    # Over only once a read went through: a pooled connection that died
                    # with the outage fails the first command after it.
                    self._reading.succeeded()
                    delay = RECONNECT_MIN_SECONDS
                    for _stream, entries in answer or []:
                        for entry_id, fields in entries:
                            self.position = _text(entry_id)
                            self._deliver(self.position, fields.get(EVENT_FIELD))
            except asyncio.CancelledError:
                raise
            except Exception as error:  # keep serving after a Redis outage, from where it stopped
                # One line when the outage starts, a summary while it lasts, one when it
                # ends (persistence.outages); never a traceback per reconnection attempt.
                self._reading.failed(error)
                if _cancelling():
                    raise asyncio.CancelledError from error  # a library turned it into an error
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    def _deliver(self, entry_id: str, raw: bytes | None) -> None:
        event = _readable(raw)
        if event is not None:
            self._local.deliver(Delivery(event, entry_id, stream_ordinal(entry_id)))

    async def aclose(self) -> None:
        """Stop reading the stream; subscribers' iterators end."""
        self._closed = True
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        self._local.close_all()


def _readable(raw: bytes | None) -> DomainEvent | None:
    try:
        if raw is None:
            raise ValueError("a stream entry without an event")
        return decode_event(raw)
    except ValueError:
        logger.warning("ignored an event entry this process cannot read", exc_info=True)
        return None


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
