"""Bounded labels, HTTP series, the /metrics token and port, and readiness while draining."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gateway.app import create_app
from gateway.container import Container, build_container
from gateway.http.edge import EdgeMiddleware
from gateway.observability.metrics import (
    ANONYMOUS,
    OTHER,
    Metrics,
    OperationNames,
)
from gateway.settings import Settings
from persistence.database import BACKGROUND, create_engine
from tests.gateway.observability.capture import labels, samples
from tests.helpers import free_port

names = st.one_of(
    st.none(), st.text(max_size=70), st.from_regex(r"[A-Za-z_]\w{0,8}", fullmatch=True)
)


@given(st.lists(names, max_size=60), st.integers(min_value=1, max_value=10))
def test_operation_labels_stay_bounded(seen: list[str | None], limit: int) -> None:
    folding = OperationNames(limit)
    kept = {folding.label(name) for name in seen} - {OTHER, ANONYMOUS}
    assert len(kept) <= limit
    assert all(label in seen for label in kept)


def test_names_fold_in_order_and_invalid_names_never_count() -> None:
    folding = OperationNames(2)
    given_names = ["A", "bad name", "x" * 65, None, "B", "C", "A"]
    assert [folding.label(n) for n in given_names] == [
        "A",
        OTHER,
        OTHER,
        ANONYMOUS,
        "B",
        OTHER,
        "A",
    ]


def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test")


async def test_metrics_require_the_bearer_token_when_one_is_set(settings: Settings) -> None:
    settings.metrics.token = settings.security.secret_key  # any SecretStr will do
    token = settings.metrics.token.get_secret_value() if settings.metrics.token else ""
    container = build_container(settings)
    try:
        async with _client(create_app(settings, container)) as client:
            missing = await client.get("/metrics")
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
            right = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    finally:
        await container.aclose()
    assert [(r.status_code, r.headers.get("www-authenticate")) for r in (missing, wrong)] == [
        (401, "Bearer"),
        (401, "Bearer"),
    ]
    assert right.status_code == 200
    assert ("gateway_ready", labels()) in samples(right.text)


async def test_metrics_move_to_their_own_port_for_the_app_lifetime(settings: Settings) -> None:
    port = free_port()
    settings.metrics.port, settings.metrics.host = port, "127.0.0.1"
    container = build_container(settings)
    app = create_app(settings, container)
    async with _client(app) as client:
        assert (await client.get("/metrics")).status_code == 404
        async with app.router.lifespan_context(app), httpx.AsyncClient() as scraper:
            scraped = await scraper.get(f"http://127.0.0.1:{port}/metrics")
        assert scraped.status_code == 200
        assert ("gateway_websocket_connections", labels()) in samples(scraped.text)
    with socket.socket() as probe:  # closed with the app: nobody listens any more
        assert probe.connect_ex(("127.0.0.1", port)) != 0


async def test_a_draining_replica_is_not_ready_before_its_resources_close(
    settings: Settings, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings, container)
    seen: list[tuple[int, object]] = []
    original = container.aclose

    async def spying_aclose() -> None:
        async with _client(app) as client:
            response = await client.get("/health/ready")
            seen.append((response.status_code, response.json()["status"]))
        await original()

    monkeypatch.setattr(container, "aclose", spying_aclose)  # a spy on the shutdown order
    async with app.router.lifespan_context(app):
        pass
    assert seen == [(503, "draining")]


async def test_http_requests_are_counted_per_method_route_and_status() -> None:
    metrics = Metrics()

    async def item(request: Request) -> Response:
        return PlainTextResponse("ok", status_code=int(request.query_params.get("status", 200)))

    app = EdgeMiddleware(
        Starlette(routes=[Route("/items/{id}", item, methods=["GET", "POST"])]), metrics=metrics
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        for path in ("/items/1", "/items/2", "/items/3?status=409", "/nowhere"):
            await client.get(path)
        await client.post("/items/1")
    found = samples(metrics.render().decode())
    route = labels(route="/items/{id}")
    expected = {
        ("gateway_http_requests_total", route | labels(method="GET", status="200")): 2,
        ("gateway_http_requests_total", route | labels(method="GET", status="409")): 1,
        ("gateway_http_requests_total", route | labels(method="POST", status="200")): 1,
        ("gateway_http_requests_total", labels(method="GET", route="unmatched", status="404")): 1,
        ("gateway_http_request_duration_seconds_count", route | labels(method="GET")): 3,
        ("gateway_http_request_duration_seconds_count", route | labels(method="POST")): 1,
    }
    assert {key: found.get(key) for key in expected} == expected
    assert sum(v for (name, _), v in found.items() if name == "gateway_http_requests_total") == 5


async def test_sql_statements_are_counted_by_origin(tmp_path: Path) -> None:
    # The outbox relay's statements (a backlog delivered after a restart) are not work
    # a request caused: counted apart, so statements per request stay what requests sent.
    metrics = Metrics()
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'origin.db'}")
    metrics.instrument_engine(engine, background=BACKGROUND)
    try:
        async with engine.connect() as conn:
            for _ in range(2):
                await conn.execute(sa.text("SELECT 1"))
        async with engine.execution_options(**{BACKGROUND: True}).connect() as conn:
            for _ in range(3):
                await conn.execute(sa.text("SELECT 1"))
    finally:
        await engine.dispose()
    counted = samples(metrics.render().decode())
    assert [
        counted[("gateway_sql_statements_total", labels(origin=origin))]
        for origin in ("request", "background")
    ] == [2.0, 3.0]
