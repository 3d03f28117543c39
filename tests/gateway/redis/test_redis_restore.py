"""Redis going away and coming back: pooled connections are replaced, quotas hold.

A redis-server of the test's own behind a TCP proxy the test cuts and restores (and,
for one test, a restart of that server with an empty memory).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.container import build_limiter, redis_client
from gateway.limits.rate_limit import Limiter, Quota
from gateway.settings import RateLimitSettings, RedisSettings
from tests.gateway.observability.proxy import TcpProxy
from tests.redis_server import RedisServer

QUOTA = Quota(10, 3600)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path) as server:
        yield server


@pytest.fixture
async def proxy(redis_server: RedisServer) -> AsyncIterator[TcpProxy]:
    async with TcpProxy("127.0.0.1", redis_server.port) as running:
        yield running


async def client(proxy: TcpProxy, **settings: object) -> Redis:
    built = redis_client(RedisSettings(url=f"redis://127.0.0.1:{proxy.port}/0", **settings))
    assert built is not None
    return built


async def test_a_call_on_a_connection_that_died_meanwhile_is_retried_on_a_new_one(
    proxy: TcpProxy,
) -> None:
    retrying, not_retrying = await client(proxy), await client(proxy, retries=0)
    try:
        assert [await retrying.set("k", "v"), await not_retrying.ping()] == [True, True]
        await proxy.cut()  # both pooled connections die
        proxy.restore()
        with pytest.raises(RedisConnectionError):
            await not_retrying.get("k")  # what every first call after a restart met
        assert await retrying.get("k") == b"v"
    finally:
        await retrying.aclose()
        await not_retrying.aclose()


async def hits(limiter: Limiter, count: int) -> list[bool]:
    return [(await limiter.hit(QUOTA, "ip", "198.51.100.7")).allowed for _ in range(count)]


@pytest.fixture
async def limiter(proxy: TcpProxy) -> AsyncIterator[Limiter]:
    redis = await client(proxy)
    # Redis is tried again on every hit after a failure (no 5 s wait in a test).
    settings = RateLimitSettings(storage_retry_seconds=0, key_prefix="restore-test")
    yield build_limiter(settings, redis)
    await redis.aclose()


async def test_after_a_restore_the_hits_counted_in_memory_still_count(
    limiter: Limiter, proxy: TcpProxy
) -> None:
    before = await hits(limiter, 6)  # counted in Redis
    await proxy.cut()
    during = await hits(limiter, 6)  # counted in this process: 4 left
    proxy.restore()
    after = await hits(limiter, 5)  # Redis has 6, memory has 10: nothing left
    assert (before, during, after) == ([True] * 6, [True] * 4 + [False] * 2, [False] * 5)


async def test_a_redis_that_comes_back_empty_lets_no_burst_through(
    limiter: Limiter, proxy: TcpProxy, redis_server: RedisServer
) -> None:
    before = await hits(limiter, 6)
    await proxy.cut()
    redis_server.restart()  # no persistence: Redis forgets the 6
    during = await hits(limiter, 2)
    proxy.restore()
    after = await hits(limiter, 5)  # Redis counts 0, this replica 8: 2 left
    assert (before, during, after) == ([True] * 6, [True] * 2, [True] * 2 + [False] * 3)
