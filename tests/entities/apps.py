"""The entity tests' gateway: its settings, every declared entity (the application's and
the test-only ones), a container with their tables, and a GraphQL client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.container import Container, build_container
from gateway.settings import Settings
from schema.declarations import application
from schema.entities import Declaration
from tests import migrated
from tests.entities.vendors import DECLARATIONS, METADATA
from tests.helpers import scratch_postgres_database
from tests.services import require_service


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


def settings_per_backend(
    request: pytest.FixtureRequest, tmp_path: Path, name: str
) -> Iterator[Settings]:
    """For a fixture with params "sqlite" and "postgres": the entity tests' settings over a
    fresh database of that backend named after `name` (dropped after the test)."""
    if request.param == "sqlite":
        yield entity_settings(f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}")
        return
    require_service("PostgreSQL", bool(request.getfixturevalue("postgres_available")))
    with scratch_postgres_database(f"gw_test_{name}") as url:
        yield entity_settings(url)


# Every declared entity: the application's and the test-only ones.
DECLARED: list[Declaration] = [*application(), *DECLARATIONS]
# The entities with root fields of their own (a part, as an order's lines, is read
# through its owner only): what the generic suites run over.
ROOTED: list[Declaration] = [d for d in DECLARED if d.model.part_of is None]


async def open_container(settings: Settings, **options: Any) -> Container:
    await migrated.upgrade(settings.database.url, also=(METADATA,))
    return build_container(settings, entities=DECLARED, **options)


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


async def created_id(api: Api, user: int, query: str, values: dict[str, Any]) -> str:
    """The id of the object a create mutation (`query`, taking `$input`) made as `user`."""
    answer = await api.ask(query, {"input": values}, user=user)
    assert "errors" not in answer, answer
    created: str = next(iter(answer["data"].values()))["id"]
    return created
