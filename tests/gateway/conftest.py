"""An app over a fresh, migrated database with a little data, and an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.container import Container, build_container
from gateway.settings import Settings
from tests import migrated
from tests.gateway.world import World, as_user, gid, populate

# Transitional: tests import these from tests.gateway.world now.
__all__ = ["World", "as_user", "gid", "populate"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"},
        security={
            "allow_debug_identity": True,
            "secret_key": "x" * 40,
            # Cheap hashing keeps the suite fast; the parameters are not what is tested.
            "argon2_time_cost": 1,
            "argon2_memory_kib": 1024,
            "argon2_parallelism": 1,
        },
        # Tests compare whole bodies; the budget and cost reports are tested on their own.
        rate_limit={"report_budget": False},
        graphql={"report_cost": False},
    )


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[Container]:
    await migrated.upgrade(settings.database.url)
    built = build_container(settings)
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
