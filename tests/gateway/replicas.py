"""Gateway replicas for fault tests: apps over one database (SQLite file or Postgres),
each with its own container and HTTP client, Redis wherever the test points them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.container import Container, build_container
from gateway.settings import Settings
from tests import migrated
from tests.helpers import scratch_postgres_database
from tests.services import require_service

PASSWORD = "Correct-Horse-Battery-9"  # a test user's password
ME = "{ me { email } }"
REGISTER = """mutation($input: RegisterInput!) {
  register(input: $input) { accessToken refreshToken } }"""
LOGOUT = "mutation { logout }"


@pytest.fixture(scope="session")
def postgres_replicas_database(postgres_available: bool) -> Iterator[str]:
    """One migrated Postgres database for the fault tests of this session."""
    require_service("PostgreSQL", postgres_available)
    with scratch_postgres_database("gw_test_faults") as url:
        asyncio.run(migrated.upgrade(url))
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database every replica of the test shares, on each backend."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_replicas_database"))
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    asyncio.run(migrated.upgrade(url))
    return url


def replica_settings(database_url: str, redis_url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database": {"url": database_url},
        "redis": {"url": redis_url},
        "security": {
            "secret_key": "s" * 40,
            "argon2_time_cost": 1,
            "argon2_memory_kib": 1024,
            "argon2_parallelism": 1,
        },
        # Channels and counters of this test's own: the shared Redis serves everyone.
        "rate_limit": {"key_prefix": f"test-{uuid.uuid4().hex}", "report_budget": False},
        "revocation": {"channel": f"test-revocations-{uuid.uuid4().hex}"},
        "graphql": {"report_cost": False},
    }
    for group, value in overrides.items():
        values[group] = {**values.get(group, {}), **value}
    return Settings(**values)


@dataclass
class Replica:
    container: Container
    client: httpx.AsyncClient

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    async def register(self) -> dict[str, str]:
        email = f"user-{uuid.uuid4().hex[:12]}@example.com"
        response = await self.gql(
            REGISTER, {"input": {"email": email, "password": PASSWORD, "name": "Replica User"}}
        )
        assert (response.status_code, "errors" in response.json()) == (200, False), response.text
        tokens: dict[str, str] = response.json()["data"]["register"]
        return {**tokens, "email": email}


class Replicas:
    """Starts replicas inside one exit stack; each is closed at the end of the test."""

    def __init__(self, stack: AsyncExitStack) -> None:
        self._stack = stack

    async def start(self, settings: Settings) -> Replica:
        container = build_container(settings)
        self._stack.push_async_callback(container.aclose)
        app = create_app(settings, container)
        client = await self._stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw.test")
        )
        return Replica(container, client)


@pytest.fixture
async def replicas() -> AsyncIterator[Replicas]:
    async with AsyncExitStack() as stack:
        yield Replicas(stack)
