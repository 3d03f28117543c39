"""A GraphQL request's quota and its cost budget: one round trip to Redis for both."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.container import Container, build_container
from gateway.settings import Settings
from tests import migrated
from tests.services import REDIS_URL, require_service

QUERY = {"query": "{ items(first: 1) { edges { node { name } } } }"}


@dataclass
class Replica:
    container: Container
    client: httpx.AsyncClient
    commands: list[str]


@pytest.fixture
async def replicas(redis_available: bool, tmp_path: Path) -> AsyncIterator[list[Replica]]:
    require_service("Redis", redis_available)
    settings = Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"},
        redis={"url": REDIS_URL},
        security={"secret_key": "s" * 40},
        # A prefix of its own: tests share the Redis database, never a counter.
        rate_limit={
            "anonymous": "3/minute",
            "anonymous_cost_budget": "100000/minute",
            "key_prefix": f"test-{uuid.uuid4().hex}",
        },
    )
    await migrated.upgrade(settings.database.url)
    built: list[Replica] = []
    try:
        for name in ("a", "b"):
            container = build_container(settings)
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(settings, container)),
                base_url=f"http://{name}.test",
            )
            built.append(Replica(container, client, _count_commands(container)))
        yield built
    finally:
        for replica in built:
            await replica.client.aclose()
            await replica.container.aclose()


def _count_commands(container: Container) -> list[str]:
    """The commands the container's Redis client sends (a spy: the round trips are the test)."""
    redis = container.redis
    assert redis is not None
    sent: list[str] = []
    original: Callable[..., Awaitable[Any]] = redis.execute_command

    async def counted(*args: Any, **options: Any) -> Any:
        sent.append(str(args[0]))
        return await original(*args, **options)

    redis.execute_command = counted  # type: ignore[method-assign]
    return sent


async def _cost_left(replica: Replica) -> int:
    limiter, budget = replica.container.limiter, replica.container.budget
    assert limiter is not None
    assert budget is not None
    read = await limiter.hit(budget.anonymous, "cost", "ip:127.0.0.1", cost=0)
    return read.remaining


async def test_a_graphql_request_costs_one_round_trip(replicas: list[Replica]) -> None:
    a = replicas[0]
    first = await a.client.post("/graphql", json=QUERY)
    a.commands.clear()
    second = await a.client.post("/graphql", json=QUERY)
    assert [r.status_code for r in (first, second)] == [200, 200]
    assert second.headers["ratelimit-remaining"] == "1"
    assert second.json()["extensions"]["rateLimit"]["remaining"] == 100_000 - 2 * int(
        second.json()["extensions"]["rateLimit"]["cost"]
    )
    assert a.commands == ["EVALSHA"]


async def test_refused_by_the_shared_quota_the_request_spends_no_cost(
    replicas: list[Replica],
) -> None:
    a, b = replicas
    answered = [await a.client.post("/graphql", json=QUERY) for _ in range(3)]
    spent = sum(r.json()["extensions"]["rateLimit"]["cost"] for r in answered)
    # a reports what the shared count leaves, less what it spent of its reservation.
    assert answered[-1].json()["extensions"]["rateLimit"]["remaining"] == 100_000 - spent
    # Redis also counts what a reserved and has not spent (up to 1% of the budget).
    before = await _cost_left(b)
    assert 100_000 - spent - 1_000 <= before <= 100_000 - spent
    # b has not refused anyone yet: Redis refuses, in the same call as the cost.
    b.commands.clear()
    refused = await b.client.post("/graphql", json=QUERY)
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert b.commands == ["EVALSHA"]
    assert await _cost_left(b) == before
    # Refused once here, b answers the next one itself.
    b.commands.clear()
    assert (await b.client.post("/graphql", json=QUERY)).status_code == 429
    assert b.commands == []


async def test_a_rest_read_costs_one_round_trip(replicas: list[Replica]) -> None:
    a = replicas[0]
    first = await a.client.get("/api/v1/items?first=1")
    a.commands.clear()
    second = await a.client.get("/api/v1/items?first=1")
    assert [r.status_code for r in (first, second)] == [200, 200]
    assert second.headers["ratelimit-remaining"] == "1"
    assert a.commands == ["EVALSHA"]


async def test_a_rest_request_refused_by_the_quota_is_a_problem_and_spends_no_cost(
    replicas: list[Replica],
) -> None:
    a, b = replicas
    for _ in range(3):
        assert (await a.client.get("/api/v1/items?first=1")).status_code == 200
    before = await _cost_left(b)
    b.commands.clear()
    refused = await b.client.get("/api/v1/items?first=1")
    assert (refused.status_code, refused.headers["content-type"]) == (
        429,
        "application/problem+json",
    )
    assert refused.json()["status"] == 429
    assert b.commands == ["EVALSHA"]
    assert await _cost_left(b) == before


async def test_a_rest_request_that_never_reaches_the_budget_still_counts(
    replicas: list[Replica],
) -> None:
    a = replicas[0]
    missing = await a.client.get("/api/v1/nothing-here")
    assert (missing.status_code, missing.headers["ratelimit-remaining"]) == (404, "2")
