"""Revocations told to every replica over Redis pub/sub, as soon as they are written.

Pub/sub is at-most-once: a replica disconnected when a revocation is published misses
it. So the broadcast only shortens the delay; the database stays the truth, and each
(re)subscription asks the store to read what it may have missed (`on_subscribed`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson
import structlog
from redis.asyncio import Redis

from persistence.outages import Outage
from persistence.revocation import Revocation

log = structlog.get_logger("gateway.revocations")

DEFAULT_CHANNEL = "gateway:revocations"
# How long one wait for a message lasts; bounds how late `aclose` and health checks run.
POLL_SECONDS = 1.0
RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 10.0


def encode(entry: Revocation) -> bytes:
    return orjson.dumps(
        {
            "kind": entry.kind,
            "key": entry.key,
            "expiresAt": entry.expires_at.isoformat(),
            "cutoff": None if entry.cutoff is None else entry.cutoff.isoformat(),
        }
    )


def decode(raw: bytes | str) -> Revocation:
    """The entry `encode` wrote; raises ValueError (or KeyError, TypeError) if malformed."""
    body = orjson.loads(raw)
    cutoff = body["cutoff"]
    return Revocation(
        str(body["kind"]),
        str(body["key"]),
        datetime.fromisoformat(body["expiresAt"]),
        None if cutoff is None else datetime.fromisoformat(cutoff),
    )


class RedisRevocationBroadcast:
    """Publishes revocations and delivers every replica's to `listen`'s callback."""

    def __init__(
        self,
        redis: Redis,
        *,
        channel: str = DEFAULT_CHANNEL,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._redis = redis
        self.channel = channel
        self._poll_seconds = poll_seconds
        self._publishing = Outage("redis", component="revocation broadcast (publish)")
        self._listening = Outage("redis", component="revocation broadcast (subscribe)")

    async def publish(self, entry: Revocation) -> None:
        """Tell the other replicas; a failure is logged as an outage, never raised
        (the revocation is in the database; they read it within their refresh period)."""
        try:
            await self._redis.publish(self.channel, encode(entry))
        except Exception as error:  # any Redis failure: the database has it
            self._publishing.failed(error)
        else:
            self._publishing.succeeded()

    async def listen(
        self,
        deliver: Callable[[Revocation], None],
        on_subscribed: Callable[[], Awaitable[None]],
    ) -> None:
        """Deliver every broadcast revocation until cancelled; reconnects with backoff."""
        delay = RECONNECT_MIN_SECONDS
        while True:
            pubsub: Any = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._listening.succeeded()
                delay = RECONNECT_MIN_SECONDS
                await on_subscribed()
                while True:
                    message = await pubsub.get_message(timeout=self._poll_seconds)
                    if message is not None and message.get("type") == "message":
                        self._deliver(deliver, message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as error:  # keep serving through a Redis outage
                self._listening.failed(error)
                if _cancelling():
                    raise asyncio.CancelledError from error  # a library turned it into an error
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    @staticmethod
    def _deliver(deliver: Callable[[Revocation], None], raw: Any) -> None:
        try:
            entry = decode(raw)
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a revocation message this process cannot read")
            return
        deliver(entry)


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
