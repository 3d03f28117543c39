"""Security headers on every response; HSTS only over https; CORS from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gateway.app import create_app
from gateway.container import Container
from gateway.http.edge import EdgeMiddleware
from gateway.observability.metrics import Metrics
from gateway.settings import Settings, SettingsError, load_settings

BASE = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), geolocation=(), microphone=()",
}
HSTS = {"strict-transport-security": "max-age=63072000; includeSubDomains"}
REQUEST_ID = {"x-request-id": "req-12345678"}


def security_headers(response: httpx.Response) -> dict[str, str]:
    names = {*BASE, *HSTS}
    return {name: value for name, value in response.headers.items() if name in names}


async def plain(_: Request) -> Response:
    return PlainTextResponse("ok")


async def own_csp(_: Request) -> Response:
    return PlainTextResponse("ok", headers={"Content-Security-Policy": "default-src 'self'"})


# One response object sent for every request: the middleware must not grow its headers.
SHARED = PlainTextResponse("shared")


async def shared(_: Request) -> Response:
    return SHARED


@pytest.fixture
async def tiny() -> AsyncIterator[httpx.AsyncClient]:
    routes = [Route("/", plain), Route("/own", own_csp), Route("/shared", shared)]
    app = EdgeMiddleware(Starlette(routes=routes), metrics=Metrics(), hsts_seconds=63072000)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers=REQUEST_ID
    ) as client:
        yield client


async def test_every_response_carries_the_headers(tiny: httpx.AsyncClient) -> None:
    response = await tiny.get("/")
    assert security_headers(response) == BASE
    missing = await tiny.get("/nowhere")
    assert (missing.status_code, security_headers(missing)) == (404, BASE)


async def test_hsts_goes_out_over_https_only(tiny: httpx.AsyncClient) -> None:
    response = await tiny.get("https://t/")
    assert security_headers(response) == {**BASE, **HSTS}


async def test_a_csp_the_route_set_is_kept(tiny: httpx.AsyncClient) -> None:
    response = await tiny.get("/own")
    assert security_headers(response) == {**BASE, "content-security-policy": "default-src 'self'"}


async def test_a_response_object_sent_twice_is_left_as_it_was(tiny: httpx.AsyncClient) -> None:
    before = list(SHARED.raw_headers)
    ids = REQUEST_ID.items()
    first, second = await tiny.get("https://t/shared"), await tiny.get("/shared")
    assert (SHARED.raw_headers, first.headers.multi_items(), second.headers.multi_items()) == (
        before,
        [*((k.decode(), v.decode()) for k, v in before), *BASE.items(), *HSTS.items(), *ids],
        [*((k.decode(), v.decode()) for k, v in before), *BASE.items(), *ids],
    )


async def test_the_gateway_answers_graphql_with_the_headers(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ __typename }"})
    assert response.json()["data"] == {"__typename": "Query"}
    assert security_headers(response) == BASE


async def test_graphiql_keeps_its_nonce_csp(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'; script-src 'self' 'nonce-")
    assert security_headers(response) == {**BASE, "content-security-policy": csp}


async def test_hsts_through_a_trusted_proxy_only(tmp_path: Path, container: Container) -> None:
    settings = container.settings.model_copy(deep=True)
    settings.security.trusted_proxies = ["127.0.0.1"]
    trusted = httpx.ASGITransport(app=create_app(settings, container), client=("127.0.0.1", 5))
    untrusted = httpx.ASGITransport(app=create_app(settings, container), client=("10.0.0.9", 5))
    headers = {"x-forwarded-proto": "https"}
    async with httpx.AsyncClient(transport=trusted, base_url="http://gw") as via_proxy:
        response = await via_proxy.get("/health/live", headers=headers)
        assert security_headers(response) == {**BASE, **HSTS}
    async with httpx.AsyncClient(transport=untrusted, base_url="http://gw") as direct:
        response = await direct.get("/health/live", headers=headers)
        assert security_headers(response) == BASE


async def test_cors_allows_only_the_configured_origins(container: Container) -> None:
    settings = container.settings.model_copy(deep=True)
    settings.security.cors_origins = ["https://app.example"]
    transport = httpx.ASGITransport(app=create_app(settings, container))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        allowed = await http.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"origin": "https://app.example"}
        )
        other = await http.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"origin": "https://evil.example"}
        )
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "ratelimit-remaining" in allowed.headers["access-control-expose-headers"]
    assert "access-control-allow-origin" not in other.headers


def test_a_wildcard_origin_is_refused_in_prod_and_with_credentials() -> None:
    prod = {
        "profile": "prod",
        "database": {"url": "postgresql+asyncpg://db/gw"},
        "redis": {"url": "redis://cache"},
        "security": {"secret_key": "k" * 40, "cors_origins": ["*"]},
    }
    with pytest.raises(SettingsError) as in_prod:
        load_settings(**prod)
    assert str(in_prod.value) == (
        "invalid settings: SECURITY__CORS_ORIGINS must list origins, not *, in prod"
    )
    with pytest.raises(SettingsError) as with_credentials:
        load_settings(security={"cors_origins": ["*"], "cors_allow_credentials": True})
    assert str(with_credentials.value) == (
        "invalid settings: SECURITY__CORS_ORIGINS must list origins, not *, with credentials"
    )
    assert Settings(security={"cors_origins": ["*"]}).security.cors_origins == ["*"]


def test_a_bad_trusted_proxy_stops_start_up() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(security={"trusted_proxies": ["10.0.0.0/8", "proxy.local"]})
    assert str(caught.value) == (
        "invalid settings: SECURITY__TRUSTED_PROXIES: 'proxy.local' is not an IP address or CIDR"
    )
