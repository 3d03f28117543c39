"""docs/guides/add-an-upstream.md: its source and field, run as written, against a reviews
service on a real loopback socket, built by the composition root from its settings."""

from __future__ import annotations

import re
import sys
import types
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from domain.principals import Principal
from gateway.container import upstream_sources
from gateway.settings import load_settings
from resolvers.loaders import build_loaders
from tests.upstreams.running import serving
from upstreams.client import Unobserved

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "add-an-upstream.md"
RATINGS = {"A-1": "4.5", "B-2": "3.0"}


@pytest.fixture
def guide() -> Iterator[types.ModuleType]:
    text = GUIDE.read_text(encoding="utf-8")
    found = re.search(r"<!-- guide: reviews -->\n```python\n(.*?)```", text, re.DOTALL)
    assert found is not None, "the guide's source block is gone"
    module = types.ModuleType("guide_reviews")
    sys.modules[module.__name__] = module  # Strawberry resolves annotations by module
    try:
        exec(compile(found.group(1), str(GUIDE), "exec"), module.__dict__)  # noqa: S102  # the guide's own code
        yield module
    finally:
        del sys.modules[module.__name__]


class Reviews:
    def __init__(self) -> None:
        self.queries: list[str] = []
        self.fail = False
        self.app = Starlette(routes=[Route("/ratings", self.ratings)])

    async def ratings(self, request: Request) -> JSONResponse:
        self.queries.append(request.url.query)
        if self.fail:
            return JSONResponse({"error": "down"}, 503)
        skus = request.query_params["skus"].split(",")
        return JSONResponse({"ratings": {s: RATINGS[s] for s in skus if s in RATINGS}})


@pytest.fixture
async def reviews() -> AsyncIterator[tuple[Reviews, str]]:
    service = Reviews()
    async with serving(service.app) as url:
        yield service, url


def schema_with(guide: types.ModuleType) -> strawberry.Schema:
    @strawberry.type
    class Item:
        sku: str
        rating = guide.rating_field()

    def items() -> list[Item]:
        return [Item(sku=sku) for sku in ("A-1", "B-2", "C-3")]

    @strawberry.type
    class Query:
        # The type given, not annotated: a local class is no module-level name.
        items_field = strawberry.field(resolver=items, name="items", graphql_type=list[Item])

    return strawberry.Schema(query=Query)


async def test_the_guides_field_asks_the_reviews_service_once_and_nulls_only_itself_on_failure(
    guide: types.ModuleType, reviews: tuple[Reviews, str]
) -> None:
    service, url = reviews
    schema = schema_with(guide)
    settings = load_settings(upstreams={"reviews": {"url": url, "retries": 0}})
    fetcher, clients = upstream_sources(settings, schema, Unobserved())

    async def ask() -> Any:
        # Only the loaders are read by an upstream field.
        loaders = build_loaders(Principal.anonymous(), upstreams=fetcher)
        return await schema.execute(
            "{ items { sku rating } }", context_value=types.SimpleNamespace(loaders=loaders)
        )

    try:
        answered = await ask()
        service.fail = True
        failed = await ask()
    finally:
        for upstream in clients.values():
            await upstream.client.aclose()
    assert (answered.errors, answered.data) == (
        None,
        {
            "items": [
                {"sku": "A-1", "rating": 4.5},
                {"sku": "B-2", "rating": 3.0},
                {"sku": "C-3", "rating": None},
            ]
        },
    )
    assert failed.data == {"items": [{"sku": s, "rating": None} for s in ("A-1", "B-2", "C-3")]}
    assert [error.message for error in failed.errors or []] == [
        "the upstream reviews is unavailable: answered 503"
    ] * 3
    # One request per query for the three items; the failing one was not retried.
    assert service.queries == ["skus=A-1%2CB-2%2CC-3"] * 2
