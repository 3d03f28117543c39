"""The entity tests' gateway: its settings, every declared entity (the application's and
the test-only ones), a container with their tables, and a GraphQL client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from gateway.container import Container, build_container
from gateway.settings import Settings
from schema.declarations import application
from schema.entities import Declaration
from tests import migrated
from tests.entities.vendors import DECLARATIONS, METADATA


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
