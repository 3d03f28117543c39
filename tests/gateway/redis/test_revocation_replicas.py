"""Logouts hold across replicas, a Redis that loses its memory, and a Redis outage.

Each test runs on SQLite and on Postgres: the database is the truth for revocations.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.gateway.observability.proxy import TcpProxy
from tests.gateway.replicas import (
    LOGOUT,
    ME,
    Replica,
    Replicas,
    database_url,
    postgres_replicas_database,
    replica_settings,
    replicas,
)
from tests.redis_server import RedisServer
from tests.services import REDIS_URL, require_service

__all__ = ["database_url", "postgres_replicas_database", "replicas"]  # fixtures used here

UNAUTHENTICATED = {
    "errors": [{"message": "token revoked", "extensions": {"code": "UNAUTHENTICATED"}}]
}
# The broadcast's stated delay is about a second; this bound only keeps a broken test
# from hanging (the refresh period is set far beyond it, so only the broadcast counts).
BROADCAST_BOUND_SECONDS = 3.0


async def me(replica: Replica, token: str) -> tuple[int, object]:
    response = await replica.gql(ME, token=token)
    return response.status_code, response.json()


async def test_a_logout_survives_a_redis_restart_with_an_empty_memory(
    database_url: str, replicas: Replicas, tmp_path: Path
) -> None:
    with RedisServer(tmp_path) as redis_server:
        settings = replica_settings(database_url, redis_server.url)
        first = await replicas.start(settings)
        tokens = await first.register()
        logout = await first.gql(LOGOUT, token=tokens["accessToken"])
        assert logout.json() == {"data": {"logout": True}}
        redis_server.restart()
        # The replica that served the logout, and one started after Redis lost it all.
        later = await replicas.start(settings)
        assert [
            await me(first, tokens["accessToken"]),
            await me(later, tokens["accessToken"]),
        ] == [(401, UNAUTHENTICATED), (401, UNAUTHENTICATED)]


async def test_a_logout_on_one_replica_reaches_another_by_broadcast(
    database_url: str, replicas: Replicas, redis_available: bool
) -> None:
    require_service("Redis", redis_available)
    settings = replica_settings(database_url, REDIS_URL)
    first = await replicas.start(settings)
    # The second replica would refresh from the database only after 300 s.
    second = await replicas.start(
        replica_settings(
            database_url,
            REDIS_URL,
            revocation={"refresh_seconds": 300, "channel": settings.revocation.channel},
        )
    )
    tokens = await first.register()
    user = {"data": {"me": {"email": tokens["email"]}}}
    assert await me(second, tokens["accessToken"]) == (200, user)
    await first.gql(LOGOUT, token=tokens["accessToken"])
    started = time.monotonic()
    while (await me(second, tokens["accessToken"]))[0] != 401:
        assert time.monotonic() - started < BROADCAST_BOUND_SECONDS
        await asyncio.sleep(0.02)


async def test_with_redis_cut_requests_answer_and_logout_revokes_everywhere(
    database_url: str, replicas: Replicas, redis_available: bool
) -> None:
    require_service("Redis", redis_available)
    target = urlsplit(REDIS_URL)
    async with TcpProxy(target.hostname or "127.0.0.1", target.port or 6379) as proxy:
        redis_url = f"redis://127.0.0.1:{proxy.port}{target.path}"
        first = await replicas.start(replica_settings(database_url, redis_url))
        second = await replicas.start(replica_settings(database_url, redis_url))
        tokens = await first.register()
        user = {"data": {"me": {"email": tokens["email"]}}}
        await proxy.cut()
        assert [
            await me(first, tokens["accessToken"]),
            await me(second, tokens["accessToken"]),
        ] == [(200, user), (200, user)]
        logout = await first.gql(LOGOUT, token=tokens["accessToken"])
        assert (logout.status_code, logout.json()) == (200, {"data": {"logout": True}})
        assert await me(first, tokens["accessToken"]) == (401, UNAUTHENTICATED)
        # The other replica learns it from the database at its next refresh (driven here
        # rather than waited for: REVOCATION__REFRESH_SECONDS is the stated delay).
        await second.container.revocations.refresh()
        assert await me(second, tokens["accessToken"]) == (401, UNAUTHENTICATED)
