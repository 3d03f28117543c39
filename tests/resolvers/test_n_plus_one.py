"""The N+1 guard: a nested query costs the same number of statements for any page size."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from gateway.app import create_app
from gateway.container import Container, build_container
from gateway.settings import Settings
from persistence import migrate, seed
from tests.helpers import assert_max_statements, postgres_admin_sql
from tests.services import POSTGRES_ADMIN_URL, require_service

NESTED = """
query Nested($n: Int!) {
  users(first: $n) {
    edges { node { name orders(first: 10) { edges { node {
      lines { quantity item { name price { amount } } }
    } } } } }
  }
}
"""
# users page + orders of every user + lines of every order + items of every line,
# plus one lookup of the acting user: one statement per level, whatever the page size.
MAX_STATEMENTS = 5


# Every read path on both databases: the resolvers (the planner off), the read planner,
# and prepared operations (the same request asked again).
@pytest.fixture(params=["sqlite", "sqlite-resolvers", "postgres", "postgres-resolvers"])
async def seeded(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_available: bool
) -> AsyncIterator[Container]:
    database: str | None = None
    if request.param.startswith("postgres"):
        require_service("PostgreSQL", postgres_available)
        database = f"gw_test_nplus1_{os.getpid()}_{secrets.token_hex(4)}"
        await postgres_admin_sql(f'CREATE DATABASE "{database}"')
        url = sa.make_url(POSTGRES_ADMIN_URL).set(database=database)
        database_url = url.render_as_string(hide_password=False)
    else:
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'nplus1.db'}"
    try:
        await migrate.upgrade(database_url)
        settings = Settings(
            database={"url": database_url},
            security={"allow_debug_identity": True, "secret_key": "n" * 40},
            graphql={"planner": not request.param.endswith("-resolvers")},
        )
        container = build_container(settings)
        await seed.seed(container.engine, users=60, items=30, orders=600, seed=7)
        yield container
        await container.aclose()
    finally:
        if database is not None:
            await postgres_admin_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def _statements_for(container: Container, n: int) -> tuple[int, int]:
    app = create_app(container.settings, container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        with assert_max_statements(container.engine, MAX_STATEMENTS) as log:
            response = await client.post(
                "/graphql",
                json={"query": NESTED, "variables": {"n": n}},
                headers={"X-Debug-User": "1"},  # the seeded admin
            )
    body = response.json()
    assert "errors" not in body, body
    users = body["data"]["users"]["edges"]
    orders = sum(len(u["node"]["orders"]["edges"]) for u in users)
    assert len(users) == n
    return log.count, orders


async def test_a_nested_query_costs_the_same_statements_for_5_and_50_users(
    seeded: Container,
) -> None:
    small, small_orders = await _statements_for(seeded, 5)
    large, large_orders = await _statements_for(seeded, 50)
    # Asked again: answered as prepared operations where the planner answered first.
    again = [(await _statements_for(seeded, n))[0] for n in (5, 50)]
    assert large_orders > small_orders > 0
    assert small == large
    assert again == [small, large]
    if seeded.prepared is not None:  # the planner's path: both asked-again were prepared
        assert seeded.prepared.hits == 2
    assert large <= MAX_STATEMENTS
