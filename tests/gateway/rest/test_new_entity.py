"""A new entity in a schema gets working, documented REST routes without any REST code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import strawberry
from starlette.applications import Starlette
from starlette.requests import Request

from gateway.rest import ApiVersion, RestApi
from schema.node import Node
from schema.pagination import Connection, Edge, PageInfo

COLOUR_GONE = "Use `name`. since 2026-01-01, sunset 2026-07-01"


@strawberry.type(description="A test-only entity, built with the schema's conventions.")
class Widget(Node):
    name: str
    weight: Decimal
    colour: str = strawberry.field(default="grey", deprecation_reason=COLOUR_GONE)


@strawberry.input
class CreateWidgetInput:
    name: str
    weight: Decimal


@strawberry.input
class UpdateWidgetInput:
    name: str | None = None
    weight: Decimal | None = None


@strawberry.type
class WidgetDeleted:
    deleted_id: strawberry.ID


STORE: dict[str, Widget] = {}


async def _count() -> int:
    return len(STORE)


@strawberry.type
class Query:
    @strawberry.field
    def widget(self, id: strawberry.ID) -> Widget | None:
        return STORE.get(id)

    @strawberry.field
    def widgets(self, first: int | None = 20, after: str | None = None) -> Connection[Widget]:
        keys = sorted(STORE)
        start = keys.index(after) + 1 if after in STORE else 0
        page = keys[start : start + (first or 20)]
        return Connection(
            edges=[Edge(cursor=k, node=STORE[k]) for k in page],
            page_info=PageInfo(
                has_next_page=start + len(page) < len(keys),
                has_previous_page=start > 0,
                start_cursor=page[0] if page else None,
                end_cursor=page[-1] if page else None,
            ),
            _count=_count,
        )


@strawberry.type
class Mutation:
    @strawberry.mutation
    def create_widget(self, input: CreateWidgetInput) -> Widget:
        widget = Widget(
            id=strawberry.ID(f"w{len(STORE) + 1}"), name=input.name, weight=input.weight
        )
        STORE[widget.id] = widget
        return widget

    @strawberry.mutation
    def update_widget(self, id: strawberry.ID, input: UpdateWidgetInput) -> Widget:
        widget = STORE[id]
        widget.name = input.name if input.name is not None else widget.name
        widget.weight = input.weight if input.weight is not None else widget.weight
        return widget

    @strawberry.mutation
    def delete_widget(self, id: strawberry.ID) -> WidgetDeleted:
        del STORE[id]
        return WidgetDeleted(deleted_id=id)

    @strawberry.mutation(deprecation_reason="Use `deleteWidget`. sunset 2026-12-31")  # type: ignore[untyped-decorator]  # keyword overload is untyped (as in schema/)
    def retire_widget(self, id: strawberry.ID) -> Widget:
        return STORE.pop(id)


async def no_context(_: Request) -> Any:
    return None


@pytest.fixture
def api() -> RestApi:
    STORE.clear()
    widgets = strawberry.Schema(query=Query, mutation=Mutation, types=[Widget])
    versions = (ApiVersion("v1"), ApiVersion("v2", schema=widgets))
    return RestApi(widgets, no_context, versions)


@pytest.fixture
async def client(api: RestApi) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=Starlette(routes=api.routes()))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def test_the_new_entity_has_crud_routes(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/v1/widgets", json={"name": "Cog", "weight": "1.5"})
    assert (created.status_code, created.headers["location"]) == (201, "/api/v1/widgets/w1")
    assert created.json() == {"id": "w1", "name": "Cog", "weight": "1.5", "colour": "grey"}
    patched = await client.patch("/api/v1/widgets/w1", json={"name": "Sprocket"})
    assert patched.json() == {"id": "w1", "name": "Sprocket", "weight": "1.5", "colour": "grey"}
    await client.post("/api/v1/widgets", json={"name": "Gear", "weight": "2"})
    page = await client.get("/api/v1/widgets?first=1")
    assert page.json() == {
        "data": [patched.json()],
        "pageInfo": {
            "hasNextPage": True,
            "hasPreviousPage": False,
            "startCursor": "w1",
            "endCursor": "w1",
        },
        "totalCount": 2,
    }
    assert page.links["next"]["url"] == "http://test/api/v1/widgets?first=1&after=w1"
    deleted = await client.delete("/api/v1/widgets/w1")
    assert deleted.status_code == 204
    missing = await client.get("/api/v1/widgets/w1")
    assert (missing.status_code, missing.json()["code"]) == (404, "NOT_FOUND")


async def test_a_second_version_serves_beside_the_first(client: httpx.AsyncClient) -> None:
    await client.post("/api/v2/widgets", json={"name": "Cog", "weight": "1"})
    v1 = await client.get("/api/v1/widgets/w1")
    v2 = await client.get("/api/v2/widgets/w1")
    assert v1.json() == v2.json() == {"id": "w1", "name": "Cog", "weight": "1", "colour": "grey"}


async def test_the_new_routes_are_documented(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    v1 = {path: sorted(item) for path, item in document["paths"].items() if "/v1/" in path}
    assert v1 == {
        "/api/v1/widgets": ["get", "post"],
        "/api/v1/widgets/{id}": ["delete", "get", "patch"],
        "/api/v1/widgets/{id}/retire": ["post"],
    }
    assert document["components"]["schemas"]["CreateWidgetInput"] == {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "weight": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$", "examples": ["9.99"]},
        },
        "additionalProperties": False,
        "required": ["name", "weight"],
    }
    retire = document["paths"]["/api/v1/widgets/{id}/retire"]["post"]
    assert retire["deprecated"] is True


async def test_reading_a_deprecated_field_announces_its_sunset(client: httpx.AsyncClient) -> None:
    await client.post("/api/v1/widgets", json={"name": "Cog", "weight": "1"})
    response = await client.get("/api/v1/widgets/w1")
    assert response.headers["deprecation"] == "@1767225600"  # 2026-01-01T00:00:00Z
    assert response.headers["sunset"] == "Wed, 01 Jul 2026 00:00:00 GMT"
    assert response.headers.get_list("link") == ['</docs>; rel="deprecation"; type="text/html"']


async def test_a_deprecated_route_links_to_its_successor(client: httpx.AsyncClient) -> None:
    await client.post("/api/v1/widgets", json={"name": "Cog", "weight": "1"})
    response = await client.post("/api/v1/widgets/w1/retire")
    assert response.status_code == 200
    # The route's own sunset (2026-12-31) is later than the colour field's (2026-07-01).
    assert response.headers["sunset"] == "Wed, 01 Jul 2026 00:00:00 GMT"
    assert response.headers.get_list("link") == [
        '</docs>; rel="deprecation"; type="text/html"',
        '</api/v1/widgets/w1>; rel="successor-version"',
    ]
