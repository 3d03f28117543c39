"""CORS: configured origins only, every REST method, the headers clients read."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.app import create_app
from gateway.container import Container
from gateway.settings import Settings

ORIGIN = "https://shop.example.com"


@pytest.fixture
async def cors_client(settings: Settings, container: Container) -> AsyncIterator[httpx.AsyncClient]:
    settings.security.cors_origins = [ORIGIN]
    app = create_app(settings, container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield client


async def test_a_configured_origin_may_patch_with_a_precondition(
    cors_client: httpx.AsyncClient,
) -> None:
    response = await cors_client.options(
        "/api/v1/items/SXRlbTox",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "PATCH",
            "access-control-request-headers": "authorization, if-match",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "PATCH" in response.headers["access-control-allow-methods"]
    assert "if-match" in response.headers["access-control-allow-headers"].lower()


async def test_an_unknown_origin_gets_no_cors_grant(cors_client: httpx.AsyncClient) -> None:
    response = await cors_client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"origin": "https://evil.test"}
    )
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


async def test_clients_may_read_the_paging_and_caching_headers(
    cors_client: httpx.AsyncClient,
) -> None:
    response = await cors_client.get("/api/v1/items", headers={"origin": ORIGIN})
    exposed = {h.strip() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"etag", "link", "x-request-id", "retry-after"} <= {h.lower() for h in exposed}
