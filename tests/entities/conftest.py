"""A gateway serving the demo and the test-only entities, over SQLite or Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.container import Container, build_container
from gateway.settings import Settings
from persistence import migrate
from schema.declarations import application
from schema.entities import Declaration
from tests.entities.vendors import DECLARATIONS, METADATA
from tests.gateway.world import World, populate


def entity_settings(url: str, *, planner: bool = True) -> Settings:
    return Settings(
        database={"url": url},
        security={
            "allow_debug_identity": True,
            "secret_key": "e" * 40,
            "argon2_time_cost": 1,
            "argon2_memory_kib": 1024,
            "argon2_parallelism": 1,
        },
        rate_limit={"enabled": False},
        graphql={"report_cost": False, "planner": planner},
    )


# Every declared entity: the application's and the test-only ones.
DECLARED: list[Declaration] = [*application(), *DECLARATIONS]


@pytest.fixture(params=DECLARED, ids=lambda d: d.name)
def declaration(request: pytest.FixtureRequest) -> Declaration:
    """Each declared entity in turn, for the generic suites."""
    found: Declaration = request.param
    return found


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return entity_settings(f"sqlite+aiosqlite:///{tmp_path / 'entities.db'}")


async def open_container(settings: Settings, **options: Any) -> Container:
    await migrate.upgrade(settings.database.url)
    built = build_container(settings, entities=DECLARED, **options)
    async with built.engine.begin() as conn:
        await conn.run_sync(METADATA.create_all)
    return built


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[Container]:
    built = await open_container(settings)
    yield built
    await built.aclose()


@pytest.fixture
async def world(container: Container) -> World:
    return await populate(container)


@pytest.fixture
def app(settings: Settings, container: Container) -> Starlette:
    return create_app(settings, container)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        yield http


@dataclass
class Api:
    client: httpx.AsyncClient

    async def ask(
        self, query: str, variables: dict[str, Any] | None = None, user: int | None = None
    ) -> Any:
        headers = {"X-Debug-User": str(user)} if user is not None else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        return response.json()


@pytest.fixture
def api(client: httpx.AsyncClient) -> Api:
    return Api(client)
