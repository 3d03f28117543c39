"""The edge as a whole: what shed requests, WebSockets and lifespan get from it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from gateway.app import create_app
from gateway.container import Container
from gateway.http.edge import EdgeMiddleware
from gateway.observability.logging import configure_logging, unconfigure_logging
from gateway.observability.metrics import Metrics
from gateway.observability.request_state import RequestState, request_state
from tests.gateway.observability.capture import LogCapture, labels, samples

SECURITY_HEADERS = [
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
    ("cross-origin-opener-policy", "same-origin"),
    ("permissions-policy", "camera=(), geolocation=(), microphone=()"),
]


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    configure_logging("prod", "info", output=capture.buffer)
    yield capture
    unconfigure_logging()


def _scope(kind: str, path: str, headers: list[tuple[bytes, bytes]]) -> Scope:
    return {
        "type": kind,
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http" if kind == "http" else "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("203.0.113.9", 5000),
        "server": ("gateway.test", 80),
    }


async def test_a_shed_request_is_logged_counted_and_carries_the_edge_headers(
    container: Container, logs: LogCapture
) -> None:
    settings = container.settings.model_copy(deep=True)
    settings.server.max_concurrency = 1
    settings.server.queue_timeout_ms = 0
    app = create_app(settings, container)
    # The one slot is held by a request whose body never comes until released.
    holding, release = asyncio.Event(), asyncio.Event()

    async def slow_body() -> Message:
        holding.set()
        await release.wait()
        return {"type": "http.request", "body": b'{"query":"{ __typename }"}'}

    async def ignore(message: Message) -> None:
        return None

    headers = [(b"content-type", b"application/json")]
    held = asyncio.create_task(app(_scope("http", "/graphql", headers), slow_body, ignore))
    await holding.wait()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        shed = await client.get("/.well-known/jwks.json", headers={"x-request-id": "shed-1234"})
    release.set()
    await held

    assert (shed.status_code, shed.headers.multi_items()) == (
        503,
        [
            ("content-type", "application/problem+json"),
            ("content-length", str(len(shed.content))),
            ("retry-after", "1"),
            *SECURITY_HEADERS,
            ("x-request-id", "shed-1234"),
        ],
    )
    access = [line for line in logs.lines() if line["logger"] == "gateway.access"]
    assert [(a["path"], a["status"], a["request_id"]) for a in access] == [
        ("/.well-known/jwks.json", 503, "shed-1234"),
        ("/graphql", 200, access[1]["request_id"]),
    ]
    found = samples(container.observability.metrics.render().decode())
    shed_series = labels(method="GET", route="unmatched", status="503")
    assert found.get(("gateway_http_requests_total", shed_series)) == 1


async def test_a_websocket_gets_its_ids_and_its_messages_pass_untouched() -> None:
    seen: list[RequestState] = []
    sent: list[Message] = []
    accept: Message = {"type": "websocket.accept", "headers": [(b"x-own", b"1")]}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(request_state(scope))
        await send(dict(accept))

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    edge = EdgeMiddleware(app, metrics=Metrics())
    await edge(_scope("websocket", "/graphql", [(b"x-request-id", b"ws-12345678")]), receive, send)
    assert (seen, sent) == (
        [RequestState(request_id="ws-12345678", client_ip="203.0.113.9", client_scheme="http")],
        [accept],
    )


async def test_lifespan_passes_straight_through() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        return None

    await EdgeMiddleware(app, metrics=Metrics())({"type": "lifespan"}, receive, send)
    assert scopes == [{"type": "lifespan"}]


async def test_an_unexpected_exception_is_answered_500_counted_logged_and_raised_again(
    container: Container, logs: LogCapture
) -> None:
    app = create_app(container.settings, container)

    async def fails(_: Request) -> Response:
        raise RuntimeError("a bug")

    app.router.routes.append(Route("/fails", fails))
    answering = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=answering, base_url="http://gw") as client:
        answer = await client.get("/fails", headers={"x-request-id": "fails-1234"})
    # Starlette's own 500, as its outermost middleware sent it (no edge headers).
    assert (answer.status_code, answer.headers.multi_items(), answer.text) == (
        500,
        [("content-length", "21"), ("content-type", "text/plain; charset=utf-8")],
        "Internal Server Error",
    )
    raising = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=raising, base_url="http://gw") as client:
        with pytest.raises(RuntimeError, match="a bug"):
            await client.get("/fails")
    access = [line for line in logs.lines() if line["logger"] == "gateway.access"]
    assert [(a["path"], a["status"]) for a in access] == [("/fails", 500), ("/fails", 500)]
    assert access[0]["request_id"] == "fails-1234"
    found = samples(container.observability.metrics.render().decode())
    series = labels(method="GET", route="/fails", status="500")
    assert found.get(("gateway_http_requests_total", series)) == 2
    # The edge answers it: Starlette's ServerErrorMiddleware is not in the stack.
    assert isinstance(app.middleware_stack, EdgeMiddleware)
    assert not isinstance(app.middleware_stack, ServerErrorMiddleware)
