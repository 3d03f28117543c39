"""The floor of a read (bench.bare's `/item/{id}`): the same item, in the gateway's shape."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type hints
import httpx
import orjson
import pytest
import sqlalchemy as sa

from bench import bare
from tests.helpers import scratch_postgres_database
from tests.services import require_service


async def _an_item(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "CREATE TABLE items (id serial PRIMARY KEY, sku text, name text, stock int)"
        )
        ident: int = await conn.fetchval(
            "INSERT INTO items (sku, name, stock) VALUES ('SKU-1', 'Crème \"q\"', 7) RETURNING id"
        )
        return ident
    finally:
        await conn.close()


@asynccontextmanager
async def _client() -> AsyncIterator[httpx.AsyncClient]:
    async with bare.app.router.lifespan_context(bare.app):
        transport = httpx.ASGITransport(app=bare.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bare.test") as client:
            yield client


async def test_without_a_database_the_read_route_says_so_and_the_json_route_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(bare.DATABASE, raising=False)
    async with _client() as client:
        assert (await client.get("/json")).json() == {"data": {"hello": "world"}}
        missing = await client.get("/item/1")
        assert missing.status_code == 503
        assert bare.DATABASE in missing.text


def test_the_read_route_answers_one_row_by_id_as_the_gateway_shapes_it(
    postgres_available: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_service("PostgreSQL", postgres_available)
    with scratch_postgres_database("bench_bare") as url:
        libpq = sa.make_url(url).set(drivername="postgresql").render_as_string(False)
        monkeypatch.setenv(bare.DATABASE, libpq)
        found, absent, ident = asyncio.run(_read_twice(libpq))
    assert found.status_code == 200
    assert orjson.loads(found.content) == {
        "data": {"item": {"id": ident, "sku": "SKU-1", "name": 'Crème "q"', "stock": 7}}
    }
    assert absent.json() == {"data": {"item": None}}


async def _read_twice(url: str) -> tuple[httpx.Response, httpx.Response, int]:
    ident = await _an_item(url)
    async with _client() as client:
        return await client.get(f"/item/{ident}"), await client.get(f"/item/{ident + 1}"), ident
