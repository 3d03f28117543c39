"""A gateway serving the demo and the test-only entities, over SQLite or Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.container import Container
from gateway.settings import Settings
from schema.entities import Declaration
from tests.entities.apps import ROOTED, Api, entity_settings, open_container
from tests.gateway.world import World, populate


@pytest.fixture(params=ROOTED, ids=lambda d: d.name)
def declaration(request: pytest.FixtureRequest) -> Declaration:
    """Each declared entity in turn, for the generic suites."""
    found: Declaration = request.param
    return found


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return entity_settings(f"sqlite+aiosqlite:///{tmp_path / 'entities.db'}")


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


@pytest.fixture
def api(client: httpx.AsyncClient) -> Api:
    return Api(client)
