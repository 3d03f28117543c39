"""The response cache stores' one contract, on the in-process store and on real Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from domain.caching import ResponseCacheStore
from persistence.response_cache import MemoryResponseCacheStore, RedisResponseCacheStore
from tests.services import REDIS_URL, require_service


async def entry(store: ResponseCacheStore, key: str) -> bytes | None:
    return (await store.lookup(key))[1]


@pytest.fixture(params=["memory", "redis"])
async def store(
    request: pytest.FixtureRequest, redis_available: bool
) -> AsyncIterator[ResponseCacheStore]:
    if request.param == "memory":
        yield MemoryResponseCacheStore(max_entries=100)
        return
    require_service("Redis", redis_available)
    redis = Redis.from_url(REDIS_URL)
    prefix = f"test-cache-{uuid.uuid4().hex}:"
    try:
        yield RedisResponseCacheStore(redis, prefix=prefix)
    finally:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def test_an_entry_is_found_until_a_tag_of_it_is_evicted(store: ResponseCacheStore) -> None:
    generation = await store.generation()
    assert await store.put("a", b"A", 60, {"Item:1", "Item"}, generation)
    assert await store.put("b", b"B", 60, {"Item:2"}, generation)
    assert [await entry(store, "a"), await entry(store, "b"), await entry(store, "c")] == [
        b"A",
        b"B",
        None,
    ]

    assert await store.evict({"Item:1", "Order:9"}) == 1
    assert [await entry(store, "a"), await entry(store, "b")] == [None, b"B"]
    assert await store.generation() > generation


async def test_an_answer_computed_before_an_eviction_of_its_tags_is_not_stored(
    store: ResponseCacheStore,
) -> None:
    before = await store.generation()
    await store.evict({"Item"})  # a commit's eviction while the answer was computed
    assert not await store.put("a", b"stale", 60, {"Item:1", "Item"}, before)
    assert await entry(store, "a") is None
    # Another tag's eviction does not stop it; an answer started after does go in.
    after = await store.generation()
    await store.evict({"Order:1"})
    assert await store.put("a", b"fresh", 60, {"Item:1", "Item"}, after)
    assert await entry(store, "a") == b"fresh"


async def test_entries_expire_after_their_time_to_live(store: ResponseCacheStore) -> None:
    assert await store.put("a", b"A", 1, {"Item:1"}, await store.generation())
    if isinstance(store, RedisResponseCacheStore):
        ttl = await store._redis.ttl(f"{store._prefix}e:a")
        tag_ttl = await store._redis.ttl(f"{store._prefix}t:Item:1")
        assert (ttl, tag_ttl) == (1, 1)
    else:
        assert isinstance(store, MemoryResponseCacheStore)
        store._clock = lambda: float("inf")
        assert await entry(store, "a") is None


async def test_the_memory_store_is_bounded_least_recently_used_first_out() -> None:
    store = MemoryResponseCacheStore(max_entries=2)
    await store.put("a", b"A", 60, {"t"}, 0)
    await store.put("b", b"B", 60, {"t"}, 0)
    await entry(store, "a")  # b is now the least recently used
    await store.put("c", b"C", 60, {"t"}, 0)
    assert [await entry(store, key) for key in ("a", "b", "c")] == [b"A", None, b"C"]
    assert (len(store), await store.evict({"t"}), len(store)) == (2, 2, 0)


class CountingRedis(Redis):
    """A Redis client that records each command it sends (one command, one round trip:
    nothing here pipelines)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[str] = []

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(str(args[0]))
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]  # unannotated in redis-py


async def test_a_lookup_and_a_put_are_one_redis_round_trip_each(redis_available: bool) -> None:
    require_service("Redis", redis_available)
    redis = CountingRedis.from_url(REDIS_URL)
    assert isinstance(redis, CountingRedis)
    prefix = f"test-cache-{uuid.uuid4().hex}:"
    store = RedisResponseCacheStore(redis, prefix=prefix)
    try:
        await store.put("warm", b"W", 60, {"Item:1"}, 0)  # loads the script once
        redis.sent.clear()
        generation, missing = await store.lookup("a")
        after_miss = list(redis.sent)
        assert await store.put("a", b"A", 60, {"Item:1", "Item"}, generation)
        after_put = list(redis.sent)
        hit = await store.lookup("a")
        assert (missing, hit) == (None, (generation, b"A"))
        assert (after_miss, after_put, redis.sent) == (
            ["MGET"],
            ["MGET", "EVALSHA"],
            ["MGET", "EVALSHA", "MGET"],
        )
    finally:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
