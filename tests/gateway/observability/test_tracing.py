"""Which tracer provider the settings give, resolver spans only when asked for, and the
incoming trace context carried without an SDK."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

import httpx
import pytest
import sqlalchemy as sa
from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.app import create_app
from gateway.container import build_container
from gateway.http.edge import EdgeMiddleware
from gateway.observability import build_observability
from gateway.observability.logging import current_trace_id
from gateway.observability.metrics import Metrics
from gateway.observability.tracing import Tracing, tracer_provider_for
from gateway.settings import Settings
from persistence.database import create_engine
from tests.gateway.world import World, as_user


def test_no_endpoint_means_no_export() -> None:
    provider = tracer_provider_for(None, service_name="gw")
    assert isinstance(provider, trace.NoOpTracerProvider)


def test_an_endpoint_gives_an_sdk_provider_with_the_service_name() -> None:
    provider = tracer_provider_for("http://collector:4318", service_name="gw", sample_ratio=0.5)
    assert isinstance(provider, TracerProvider)
    assert (provider.resource.attributes["service.name"], provider.sampler.get_description()) == (
        "gw",
        "ParentBased{root:TraceIdRatioBased{0.5},remoteParentSampled:AlwaysOnSampler,"
        "remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,"
        "localParentNotSampled:AlwaysOffSampler}",
    )
    provider.shutdown()


async def _resolver_span_names(
    settings: Settings,
    world: World,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> list[str]:
    exporter.clear()
    container = build_container(
        settings, build_observability(settings, tracer_provider=tracer_provider)
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings, container)),
            base_url="http://gateway.test",
        ) as client:
            response = await client.post(
                "/graphql", json={"query": "{ me { name } }"}, headers=as_user(world.alice)
            )
            assert response.json()["data"] == {"me": {"name": "Alice"}}
    finally:
        await container.aclose()
    return sorted(s.name for s in exporter.get_finished_spans() if "resolve" in s.name)


async def test_resolver_spans_are_off_by_default_and_on_by_setting(
    settings: Settings,
    world: World,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    # Resolver spans are the resolver path's: a planned query runs no resolver.
    settings.graphql.planner = False
    off = await _resolver_span_names(settings, world, tracer_provider, span_exporter)
    settings.telemetry.resolver_spans = True
    on = await _resolver_span_names(settings, world, tracer_provider, span_exporter)
    assert (off, on) == ([], ["GraphQL resolve Query.me"])


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01".encode()

type Seen = list[tuple[str | None, str]]


def _probe(seen: Seen) -> ASGIApp:
    """An app noting the trace id and trace state current inside the request."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        span_context = trace.get_current_span().get_span_context()
        seen.append((current_trace_id(), span_context.trace_state.to_header()))

    return app


async def _through(
    middleware: Callable[[ASGIApp], ASGIApp],
    headers: list[tuple[bytes, bytes]],
    kind: str = "http",
) -> Seen:
    seen: Seen = []

    async def receive() -> Message:
        return {"type": "http.request"}

    async def send(message: Message) -> None:
        return None

    scope: Scope = {
        "type": kind,
        "scheme": "http",
        "method": "GET",
        "path": "/x",
        "raw_path": b"/x",
        "query_string": b"",
        "root_path": "",
        "http_version": "1.1",
        "server": ("gateway.test", 80),
        "client": ("203.0.113.9", 1234),
        "headers": headers,
    }

    async def request() -> None:
        await middleware(_probe(seen))(scope, receive, send)

    # In a task of its own: whatever the middleware leaves attached stays there.
    await asyncio.create_task(request())
    return seen


def _no_op_otel(app: ASGIApp) -> ASGIApp:
    return OpenTelemetryMiddleware(app, tracer_provider=trace.NoOpTracerProvider())


def _edge(app: ASGIApp) -> ASGIApp:
    return EdgeMiddleware(app, metrics=Metrics())


def _server_span_layers(app: Starlette) -> list[type]:
    """The layer the edge puts around its observing half, or none."""
    # Starlette types `cls` as a middleware factory protocol, not a class.
    edges = [layer for layer in app.user_middleware if cast(object, layer.cls) is EdgeMiddleware]
    factories = [
        cast(Callable[[ASGIApp], ASGIApp] | None, edge.kwargs["server_spans"])  # kwargs: objects
        for edge in edges
    ]
    return [type(factory(_probe([]))) for factory in factories if factory is not None]


async def test_without_an_sdk_the_edge_carries_the_trace_context_without_otel_middleware(
    settings: Settings, app: Starlette
) -> None:
    container = build_container(settings)  # no OTLP endpoint: a no-op provider
    try:
        without_sdk = create_app(settings, container)
    finally:
        await container.aclose()
    # `app` has the test SDK provider.
    assert (_server_span_layers(without_sdk), _server_span_layers(app)) == (
        [],
        [OpenTelemetryMiddleware],
    )


async def _never_receive() -> Message:
    raise AssertionError("not called")


async def _never_send(message: Message) -> None:
    raise AssertionError("not called")


async def test_an_incoming_traceparent_is_current_inside_the_request_only() -> None:
    headers = [(b"traceparent", TRACEPARENT), (b"tracestate", b"vendor=abc")]
    seen: Seen = []
    request = {"method": "GET", "path": "/", "headers": headers}
    scopes: list[Scope] = [
        {"type": "http", **request},
        {"type": "websocket", **request},
        {"type": "lifespan"},
    ]
    for scope in scopes:
        await _edge(_probe(seen))(scope, _never_receive, _never_send)
    assert (seen, current_trace_id()) == (
        [(TRACE_ID, "vendor=abc"), (TRACE_ID, "vendor=abc"), (None, "")],
        None,
    )


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"tracestate", b"vendor=abc")],
        [(b"traceparent", TRACEPARENT)],
        [(b"traceparent", TRACEPARENT), (b"tracestate", b"a=1"), (b"tracestate", b"b=2")],
        [(b"traceparent", TRACEPARENT), (b"traceparent", TRACEPARENT)],
        [(b"traceparent", b"00-" + b"0" * 32 + b"-00f067aa0ba902b7-01")],
        [(b"traceparent", b"not a traceparent")],
        [(b"traceparent", TRACEPARENT), (b"tracestate", b"\xff=bad")],
    ],
    ids=[
        "none",
        "tracestate-only",
        "traceparent",
        "tracestate-repeated",
        "traceparent-repeated",
        "zero-trace-id",
        "malformed",
        "bad-tracestate",
    ],
)
async def test_the_edge_reads_trace_headers_as_the_otel_middleware_does(
    headers: list[tuple[bytes, bytes]],
) -> None:
    assert await _through(_edge, headers) == await _through(_no_op_otel, headers)


async def test_sql_spans_listen_to_the_engine_only_when_a_provider_records() -> None:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    exporter = InMemorySpanExporter()
    recording = TracerProvider()
    recording.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        listening = len(engine.sync_engine.dispatch.before_cursor_execute)
        Tracing(trace.NoOpTracerProvider()).instrument_engine(engine)
        assert len(engine.sync_engine.dispatch.before_cursor_execute) == listening
        Tracing(recording).instrument_engine(engine)
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        assert [span.name for span in exporter.get_finished_spans()] == ["SQL SELECT"]
    finally:
        await engine.dispose()
        recording.shutdown()
