"""The idempotency store contract, for the in-process store and Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import from_url

from domain.errors import UnavailableError
from domain.idempotency import IdempotencyRecord, IdempotencyStore, StoredAnswer
from persistence.idempotency import MemoryIdempotencyStore, RedisIdempotencyStore
from tests.services import REDIS_URL, require_service

ANSWER = StoredAnswer(201, (("content-type", "application/json"), ("etag", '"x"')), b'{"id":1}\x00')


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def store(
    request: pytest.FixtureRequest, redis_available: bool
) -> AsyncIterator[IdempotencyStore]:
    if request.param == "memory":
        yield MemoryIdempotencyStore()
        return
    require_service("Redis", redis_available)
    client = from_url(REDIS_URL)
    prefix = f"test-idempotency-{uuid.uuid4().hex}:"
    try:
        yield RedisIdempotencyStore(client, prefix=prefix)
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_the_first_claim_wins_and_later_ones_see_it_in_flight(
    store: IdempotencyStore,
) -> None:
    claims = await asyncio.gather(*(store.claim("k", f"fp{n}", 60) for n in range(5)))
    winners = [n for n, held in enumerate(claims) if held is None]
    assert len(winners) == 1
    assert {held for held in claims if held is not None} == {IdempotencyRecord(f"fp{winners[0]}")}


async def test_a_completed_record_comes_back_whole(store: IdempotencyStore) -> None:
    assert await store.claim("k", "fp", 60) is None
    await store.complete("k", IdempotencyRecord("fp", ANSWER), 60)
    assert await store.get("k") == IdempotencyRecord("fp", ANSWER)
    assert await store.claim("k", "other", 60) == IdempotencyRecord("fp", ANSWER)


async def test_a_released_key_can_be_claimed_again(store: IdempotencyStore) -> None:
    assert await store.claim("k", "fp", 60) is None
    await store.release("k")
    assert await store.get("k") is None
    assert await store.claim("k", "fp2", 60) is None


async def test_records_expire() -> None:
    clock = Clock()
    store = MemoryIdempotencyStore(clock=clock)
    assert await store.claim("k", "fp", 5) is None
    clock.now += 5
    assert await store.get("k") is None
    assert await store.claim("k", "fp", 5) is None


async def test_redis_records_expire_with_their_ttl(redis_available: bool) -> None:
    require_service("Redis", redis_available)
    client = from_url(REDIS_URL)
    prefix = f"test-idempotency-{uuid.uuid4().hex}:"
    try:
        store = RedisIdempotencyStore(client, prefix=prefix)
        await store.claim("k", "fp", 30)
        await store.complete("k", IdempotencyRecord("fp", ANSWER), 120)
        ttl = await client.pttl(prefix + "k")
        assert 0 < ttl <= 120_000
    finally:
        await client.delete(prefix + "k")
        await client.aclose()


async def test_an_unreachable_redis_is_unavailable() -> None:
    client = from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        with pytest.raises(UnavailableError):
            await RedisIdempotencyStore(client).claim("k", "fp", 60)
    finally:
        await client.aclose()
