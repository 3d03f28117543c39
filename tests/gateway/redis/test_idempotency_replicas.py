"""Two replicas over one Redis: a key is executed once whichever replica a retry reaches."""

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
from tests.gateway.world import World, as_user, gid, populate
from tests.services import REDIS_URL, require_service

PLACE = "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id status } }"
COUNT = "{ orders { totalCount } }"


@pytest.fixture
async def replicas(
    redis_available: bool, tmp_path: Path
) -> AsyncIterator[tuple[World, httpx.AsyncClient, httpx.AsyncClient]]:
    require_service("Redis", redis_available)
    unique = uuid.uuid4().hex
    settings = Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"},
        redis={"url": REDIS_URL},
        security={
            "allow_debug_identity": True,
            "secret_key": "s" * 40,
            "argon2_time_cost": 1,
            "argon2_memory_kib": 1024,
            "argon2_parallelism": 1,
        },
        rate_limit={"enabled": False},
        idempotency={"redis_prefix": f"test-idempotency-{unique}:"},
        events={"stream": f"test-events-{unique}"},
    )
    await migrated.upgrade(settings.database.url)
    first, second = build_container(settings), build_container(settings)
    world = await populate(first)
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
            yield world, a, b
    finally:
        await first.aclose()
        await second.aclose()


async def test_concurrent_retries_on_two_replicas_place_one_order(
    replicas: tuple[World, httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    world, a, b = replicas
    variables = {"input": {"lines": [{"itemId": gid("Item", world.widget), "quantity": 1}]}}
    headers = as_user(world.alice) | {"Idempotency-Key": f'"{uuid.uuid4()}"'}
    payload = {"query": PLACE, "variables": variables}
    before = (await a.post("/graphql", json={"query": COUNT}, headers=as_user(world.staff))).json()

    answers = await asyncio.gather(
        *(client.post("/graphql", json=payload, headers=headers) for client in (a, b, a, b, a, b))
    )

    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert sorted(a.headers.get("idempotent-replayed", "") for a in answers) == [""] + ["true"] * 5
    after = (await b.post("/graphql", json={"query": COUNT}, headers=as_user(world.staff))).json()
    assert after["data"]["orders"]["totalCount"] == before["data"]["orders"]["totalCount"] + 1
