"""Two gateways over one seeded Postgres database: the read planner on, and off.

The database is created once per session under a unique name (several engineers run
the suite on one server), seeded deterministically, then given the awkward values
the SQL must write exactly as Python does: non-ASCII and escaped characters in
sorted text, timestamps with and without microseconds, ties on sort keys, an item
that orders reference but that is no longer active.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.app import create_app
from gateway.container import Container, build_container
from gateway.settings import Settings
from persistence import migrate, seed
from persistence.read_model import SqlReadModel
from schema.planner import plan
from tests.conftest import POSTGRES_ADMIN_URL, require_service

ADMIN, STAFF, CUSTOMER, OTHER_CUSTOMER = 1, 2, 4, 9

# Run after the seed: values chosen to break a careless SQL rendering.
AWKWARD = (
    """UPDATE users SET name = 'Zoë "Q" Back\\slash 😀' WHERE id = 4""",
    "UPDATE users SET name = E'Tab\\there\\x7f \\x01' WHERE id = 5",
    "UPDATE users SET name = (SELECT name FROM users WHERE id = 7) WHERE id = 6",
    """UPDATE items SET name = 'Crème brûlée ☕ "x"' WHERE id = 3""",
    "UPDATE items SET name = 'back\\slash / 100%' WHERE id = 4",
    # Every character class JSON escapes, in a sorted name and in free text.
    "UPDATE items SET active = true, name = E'Two\\nlines\\r\\t\"q\" it''s \\\\ / é ☕ 😀',"
    " description = E'\\x01\\x1f\\x7f \\u2028 \\b\\f \"end\"\\n' WHERE id = 2",
    "UPDATE items SET stock = 0, active = false WHERE id = 5",
    "UPDATE items SET active = false WHERE id IN (SELECT item_id FROM order_lines LIMIT 1)",
    "UPDATE items SET price_cents = (SELECT price_cents FROM items WHERE id = 8) WHERE id = 9",
    "UPDATE items SET created_at = created_at + interval '1 microsecond' WHERE id = 7",
    "UPDATE orders SET created_at = created_at + interval '123456 microseconds' WHERE id % 3 = 0",
    "UPDATE orders SET created_at = (SELECT created_at FROM orders WHERE id = 1)"
    " WHERE id IN (2, 3)",
    "UPDATE orders SET updated_at = updated_at + interval '10 microseconds' WHERE id % 4 = 0",
)


async def _admin_sql(statement: str) -> None:
    admin = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(sa.text(statement))
    finally:
        await admin.dispose()


async def _prepare(url: str) -> None:
    await migrate.upgrade(url)
    engine = create_async_engine(url)
    try:
        await seed.seed(engine, users=60, items=30, orders=300, seed=11)
        async with engine.begin() as conn:
            for statement in AWKWARD:
                await conn.execute(sa.text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def planner_database_url(postgres_available: bool) -> Iterator[str]:
    require_service("PostgreSQL", postgres_available)
    name = f"gw_test_planner_{os.getpid()}_{secrets.token_hex(4)}"
    asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    try:
        url = sa.make_url(POSTGRES_ADMIN_URL).set(database=name)
        rendered = url.render_as_string(hide_password=False)
        asyncio.run(_prepare(rendered))
        yield rendered
    finally:
        asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def settings_for(url: str, *, planner: bool) -> Settings:
    return Settings(
        database={"url": url},
        security={"allow_debug_identity": True, "secret_key": "p" * 40},
        # A shared budget would make the two gateways' answers drift apart.
        rate_limit={"enabled": False},
        graphql={"planner": planner},
    )


@dataclass
class Answer:
    status: int
    body: Any


@dataclass
class Gateway:
    container: Container
    client: httpx.AsyncClient

    async def ask(
        self, query: str, variables: dict[str, Any] | None = None, user: int | None = None
    ) -> Answer:
        headers = {"X-Debug-User": str(user)} if user is not None else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        return Answer(response.status_code, response.json())


@dataclass
class Planned:
    """Counts the plans the read model ran (a spy: being planned is the behaviour)."""

    roots: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.roots)


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> Planned:
    seen = Planned()
    original = SqlReadModel.fetch

    async def spy(self: SqlReadModel, built: plan.Plan, scope: plan.Scope) -> dict[str, str]:
        answers = await original(self, built, scope)
        seen.roots.extend(answers)
        return answers

    monkeypatch.setattr(SqlReadModel, "fetch", spy)
    return seen


async def _gateway(url: str, *, planner: bool) -> tuple[Container, httpx.AsyncClient]:
    settings = settings_for(url, planner=planner)
    container = build_container(settings)
    transport = httpx.ASGITransport(app=create_app(settings, container))
    return container, httpx.AsyncClient(transport=transport, base_url="http://gateway.test")


@pytest.fixture
async def planner_on(planner_database_url: str, planned: Planned) -> AsyncIterator[Gateway]:
    # `planned` first: the container binds the read model's (spied) fetch when built.
    container, client = await _gateway(planner_database_url, planner=True)
    async with client:
        yield Gateway(container, client)
    await container.aclose()


@pytest.fixture
async def planner_off(planner_database_url: str) -> AsyncIterator[Gateway]:
    container, client = await _gateway(planner_database_url, planner=False)
    async with client:
        yield Gateway(container, client)
    await container.aclose()
