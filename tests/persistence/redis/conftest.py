"""A Redis client and a fresh stream name for each test (removed with its `:…` keys after)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.services import REDIS_URL, require_service


@pytest.fixture
async def redis(redis_available: bool) -> AsyncIterator[Redis]:
    require_service("Redis", redis_available)
    client = Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def stream(redis: Redis) -> AsyncIterator[str]:
    name = f"gw-test:stream:{secrets.token_hex(6)}"
    yield name
    keys = [key async for key in redis.scan_iter(match=f"{name}*")]
    if keys:
        await redis.delete(*keys)
