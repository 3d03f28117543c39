"""Two app instances over one Redis share rate-limit counters and revocations."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.container import build_container
from gateway.settings import Settings
from tests import migrated
from tests.gateway.accounts import LOGIN, PASSWORD, codes, gql, register
from tests.services import REDIS_URL, require_service

QUERY = {"query": "{ __typename }"}
ME = "{ me { email } }"


@pytest.fixture
async def replicas(
    redis_available: bool, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    require_service("Redis", redis_available)
    settings = Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"},
        redis={"url": REDIS_URL},
        security={
            "secret_key": "s" * 40,
            "argon2_time_cost": 1,
            "argon2_memory_kib": 1024,
            "argon2_parallelism": 1,
        },
        # A prefix of its own: tests share the Redis database, never a counter.
        rate_limit={
            "anonymous": "4/minute",
            "login_per_account": "3/minute",
            "key_prefix": f"test-{uuid.uuid4().hex}",
        },
    )
    await migrated.upgrade(settings.database.url)
    first, second = build_container(settings), build_container(settings)
    try:
        async with (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(settings, first)),
                base_url="http://a.test",
            ) as a,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(settings, second)),
                base_url="http://b.test",
            ) as b,
        ):
            yield a, b
    finally:
        await first.aclose()
        await second.aclose()


async def test_request_counters_are_shared(
    replicas: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    a, b = replicas
    statuses = [
        (await (a if n % 2 else b).post("/graphql", json=QUERY)).status_code for n in range(5)
    ]
    assert statuses == [200, 200, 200, 200, 429]
    assert (await a.post("/graphql", json=QUERY)).headers["ratelimit-remaining"] == "0"


async def test_login_attempts_are_shared(
    replicas: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    a, b = replicas
    await register(a, "carol@example.com")
    for client in (a, b, a):
        wrong = await gql(client, LOGIN, {"e": "carol@example.com", "p": "Wrong-Guess-1"})
        assert codes(wrong) == ["UNAUTHENTICATED"]
    right = await gql(b, LOGIN, {"e": "carol@example.com", "p": PASSWORD})
    assert codes(right) == ["RATE_LIMITED"]


# The delay within which a revocation reaches every replica: the Redis broadcast takes
# well under a second, the periodic read (`REVOCATION__REFRESH_SECONDS`, 5 s) is the bound.
REVOCATION_DELAY_SECONDS = 5


async def test_a_logout_on_one_replica_is_honoured_by_the_other(
    replicas: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    a, b = replicas
    session = await register(a, "dan@example.com")
    before = await gql(b, ME, token=session["accessToken"])
    assert before.json()["data"] == {"me": {"email": "dan@example.com"}}
    out = await gql(a, "mutation { logout }", token=session["accessToken"])
    assert out.json()["data"] == {"logout": True}
    # The revocation is broadcast after the logout answers (in the background): the
    # other replica honours it within the stated delay, not necessarily at once.
    async with asyncio.timeout(REVOCATION_DELAY_SECONDS):
        while True:
            after = await gql(b, ME, token=session["accessToken"])
            if after.status_code == 401:
                break
            await asyncio.sleep(0.05)
    assert (after.status_code, codes(after)) == (401, ["UNAUTHENTICATED"])
