"""Resuming subscriptions: the backends to run on, and reading `next` with its event id."""

from __future__ import annotations

import uuid
from typing import Any

from httpx_ws import AsyncWebSocketSession
from redis.asyncio import Redis

from gateway.container import Container
from gateway.settings import Settings
from persistence.redis_event_bus import RedisEventBus
from tests.gateway.realtime.helpers import TIMEOUT, eventually
from tests.services import REDIS_URL, require_service

BACKENDS = ["embedded", "redis"]


def on_backend(settings: Settings, backend: str, redis_available: bool) -> Settings:
    """`settings` for the embedded default, or with a Redis stream of the test's own."""
    if backend == "redis":
        require_service("Redis", redis_available)
        settings.redis.url = REDIS_URL
        settings.events.stream = f"test:{uuid.uuid4().hex}:events"
    return settings


async def delete_streams(settings: Settings) -> None:
    """Delete the test's streams (the events and the handlers' partitions)."""
    if settings.redis.url is None:
        return
    client = Redis.from_url(settings.redis.url)
    try:
        async for key in client.scan_iter(match=f"{settings.events.stream}*"):
            await client.delete(key)
    finally:
        await client.aclose()


async def subscribers(container: Container, count: int) -> None:
    """Wait until `count` subscriptions receive every event published from now."""
    await eventually(lambda: container.bus.subscriber_count == count)
    await container.bus.ready()


async def next_event(ws: AsyncWebSocketSession, op_id: str) -> tuple[str, dict[str, Any]]:
    """The next message, which must be a `next` of `op_id`: its event id and its data."""
    message: dict[str, Any] = await ws.receive_json(timeout=TIMEOUT)
    assert (message["type"], message["id"]) == ("next", op_id), message
    payload: dict[str, Any] = message["payload"]
    return payload["extensions"]["eventId"], payload["data"]


def redis_bus(container: Container) -> RedisEventBus:
    assert isinstance(container.bus, RedisEventBus)
    return container.bus
