from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from persistence.revocation import RedisRevocationStore
from tests.conftest import REDIS_URL, require_service
from tests.persistence.revocation_contract import RevocationStoreContract, claims

HOUR = timedelta(hours=1)


@pytest.fixture
async def redis(redis_available: bool) -> AsyncIterator[Redis]:
    require_service("Redis", redis_available)
    client = Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    name = f"gw-test:revoked:{secrets.token_hex(6)}"
    yield name
    keys = [key async for key in redis.scan_iter(match=f"{name}:*")]
    if keys:
        await redis.delete(*keys)


@pytest.fixture
def store(redis: Redis, prefix: str) -> RedisRevocationStore:
    return RedisRevocationStore(redis, prefix)


class TestRedisRevocationStore(RevocationStoreContract):
    pass


async def _pttl(redis: Redis, key: str) -> int:
    return int(await redis.pttl(key))


def _ms_until(moment: datetime) -> int:
    return int((moment - datetime.now(UTC)) / timedelta(milliseconds=1))


async def test_every_key_expires_when_its_token_would(
    store: RedisRevocationStore, redis: Redis, prefix: str
) -> None:
    access_end = datetime.now(UTC) + timedelta(minutes=30)
    refresh_end = datetime.now(UTC) + timedelta(days=7)
    await store.revoke("j", access_end)
    await store.revoke_family("f", refresh_end)
    await store.revoke_all_for_user(7, issued_before=datetime.now(UTC), until=refresh_end)
    assert await store.use_refresh("r", "f2", refresh_end) is True
    expected = {
        f"{prefix}:jti:j": _ms_until(access_end),
        f"{prefix}:fam:f": _ms_until(refresh_end),
        f"{prefix}:user:7": _ms_until(refresh_end),
        f"{prefix}:used:r": _ms_until(refresh_end),
    }
    actual = {key: await _pttl(redis, key) for key in expected}
    for key, ms in expected.items():
        assert ms - 2_000 <= actual[key] <= ms + 50, (key, actual[key], ms)
    found = sorted([key.decode() async for key in redis.scan_iter(match=f"{prefix}:*")])
    assert found == sorted(expected)


async def test_revoking_again_never_shortens_the_expiry(
    store: RedisRevocationStore, redis: Redis, prefix: str
) -> None:
    long_end = datetime.now(UTC) + 2 * HOUR
    await store.revoke("j", long_end)
    await store.revoke("j", datetime.now(UTC) + HOUR)
    assert await _pttl(redis, f"{prefix}:jti:j") > _ms_until(long_end) - 2_000
    longer_end = datetime.now(UTC) + 3 * HOUR
    await store.revoke("j", longer_end)
    assert await _pttl(redis, f"{prefix}:jti:j") > _ms_until(longer_end) - 2_000


async def test_the_user_cutoff_keeps_the_latest_expiry(
    store: RedisRevocationStore, redis: Redis, prefix: str
) -> None:
    long_end = datetime.now(UTC) + 7 * 24 * HOUR
    cutoff = datetime.now(UTC)
    await store.revoke_all_for_user(7, issued_before=cutoff, until=long_end)
    await store.revoke_all_for_user(7, issued_before=cutoff - HOUR, until=datetime.now(UTC) + HOUR)
    assert await _pttl(redis, f"{prefix}:user:7") > _ms_until(long_end) - 2_000
    assert await store.revoked_before(7) == cutoff


async def test_two_stores_over_one_redis_see_each_others_revocations(
    redis: Redis, prefix: str
) -> None:
    other_client = Redis.from_url(REDIS_URL)
    try:
        replica_a = RedisRevocationStore(redis, prefix)
        replica_b = RedisRevocationStore(other_client, prefix)
        issued = datetime.now(UTC)
        until = issued + HOUR
        await replica_a.revoke("j", until)
        await replica_b.revoke_family("f", until)
        await replica_a.revoke_all_for_user(9, issued_before=issued, until=until)
        assert await replica_b.use_refresh("r", "g", until) is True
        assert [
            await replica_b.is_revoked("j"),
            await replica_a.is_family_revoked("f"),
            await replica_b.revoked_before(9),
            await replica_b.is_token_revoked(claims(subject=9, issued_at=issued - HOUR)),
            await replica_a.use_refresh("r", "g", until),
        ] == [True, True, issued, True, False]
    finally:
        await other_client.aclose()


async def test_stores_with_other_prefixes_are_isolated(redis: Redis, prefix: str) -> None:
    mine = RedisRevocationStore(redis, prefix)
    theirs = RedisRevocationStore(redis, f"{prefix}:other")
    await mine.revoke("j", datetime.now(UTC) + HOUR)
    assert [await mine.is_revoked("j"), await theirs.is_revoked("j")] == [True, False]
