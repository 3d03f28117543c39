"""The baselines: a bare Starlette JSON route, and the same app reading one row by id.

Served with the gateway's uvicorn options. `/item/{id}` is the floor of one read a
request: one asyncpg `fetchval` on a pooled connection, Postgres building the JSON as
the gateway's planner has it do, nothing else (no GraphQL, auth, limits or logging). It
answers only when `BENCH_BARE_DATABASE` (a libpq URL) is set. A gateway sending each
read by id on its own could be no cheaper than it; the gateway sends those of one
event-loop turn together (persistence/coalesced_reads.py), so its rows may pass it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type hints
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.settings.model import DatabaseSettings

# The fields of the gateway's `item(id)` row (bench.scenarios.BY_ID), in its shape.
ITEM_BY_ID = (
    "SELECT json_build_object('data', json_build_object('item', json_build_object("
    "'id', id, 'sku', sku, 'name', name, 'stock', stock)))::text FROM items WHERE id = $1"
)
DATABASE = "BENCH_BARE_DATABASE"
# As many connections as the gateway's pool holds by default.
POOL_SIZE: int = DatabaseSettings.model_fields["pool_size"].default


async def hello(_: Request) -> Response:
    return JSONResponse({"data": {"hello": "world"}})


async def item(request: Request) -> Response:
    pool: asyncpg.Pool | None = request.app.state.pool
    if pool is None:
        return JSONResponse({"error": f"{DATABASE} is not set"}, status_code=503)
    async with pool.acquire() as conn:
        body = await conn.fetchval(ITEM_BY_ID, request.path_params["id"])
    if body is None:
        return JSONResponse({"data": {"item": None}})
    return Response(body, media_type="application/json")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    url = os.environ.get(DATABASE)
    app.state.pool = (
        await asyncpg.create_pool(url, min_size=POOL_SIZE, max_size=POOL_SIZE) if url else None
    )
    try:
        yield
    finally:
        if app.state.pool is not None:
            await app.state.pool.close()


app = Starlette(
    routes=[
        Route("/json", hello, methods=["GET", "POST"]),
        Route("/item/{id:int}", item, methods=["GET"]),
    ],
    lifespan=lifespan,
)
