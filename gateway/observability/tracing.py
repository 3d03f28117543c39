"""OpenTelemetry traces: HTTP, GraphQL operation and phases, dataloader batches, SQL.

Our own schema extension rather than Strawberry's `OpenTelemetryExtension`, which
puts the raw query text (inline literals, personal data) on the operation span.
OTLP/HTTP export only when an endpoint is configured; otherwise a no-op provider,
and instead of the OpenTelemetry ASGI middleware (about 120 µs a request, for spans
nobody records) the edge (`gateway.http.edge`) only carries an incoming `traceparent` into
the context (`incoming_trace_context`) so log lines get its trace id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from inspect import isawaitable
from typing import Any

from graphql import GraphQLResolveInfo
from opentelemetry import context, trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy import event
from sqlalchemy.engine import Connection, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Scope
from strawberry.extensions import SchemaExtension
from strawberry.extensions.tracing.utils import should_skip_tracing

from gateway.observability import operations

TRACER_NAME = "gateway"
_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
_SPAN_ATTRIBUTE = "_gateway_span"  # where a statement's span waits for its end
# Probes and scrapes are not requests anyone wants traced.
EXCLUDED_URLS = "/health/,/metrics"
_W3C_TRACE_CONTEXT = TraceContextTextMapPropagator()
_TRACE_HEADERS = frozenset({b"traceparent", b"tracestate"})


def tracer_provider_for(
    otlp_endpoint: str | None, *, service_name: str, sample_ratio: float = 1.0
) -> trace.TracerProvider:
    """An SDK provider exporting over OTLP/HTTP, or a no-op one without an endpoint."""
    if not otlp_endpoint:
        return trace.NoOpTracerProvider()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    endpoint = otlp_endpoint.rstrip("/")
    if not endpoint.endswith("/v1/traces"):
        endpoint += "/v1/traces"
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


def _route_span_details(
    routes: Sequence[BaseRoute],
) -> Callable[[Scope], tuple[str, dict[str, Any]]]:
    def details(scope: Scope) -> tuple[str, dict[str, Any]]:
        method = str(scope.get("method", "")) or "WS"
        for route in routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                template = str(getattr(route, "path", scope.get("path", "")))
                return f"{method} {template}", {"http.route": template}
        return method, {}

    return details


# Attributes the OpenTelemetry ASGI middleware fills from the query string (old and new
# HTTP conventions): on /graphql it is the document and its variables, on REST the
# filter values, none of which a trace may keep.
_URL_ATTRIBUTES = ("http.url", "url.full", "http.target")
_QUERY_ATTRIBUTES = ("url.query",)


def without_query(span: trace.Span, _scope: Scope) -> None:
    """The server span's URL attributes without their query string (a request hook)."""
    attributes = getattr(span, "attributes", None) or {}
    for name in _URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str) and "?" in value:
            span.set_attribute(name, value.split("?", 1)[0])
    for name in _QUERY_ATTRIBUTES:
        if name in attributes:
            span.set_attribute(name, "")


class OperationTracing(SchemaExtension):
    """A span per operation and per phase (parse, validate, execute); no query text."""

    def __init__(self, *, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def on_operation(self) -> Iterator[None]:
        with self._tracer.start_as_current_span("GraphQL operation") as span:
            yield
            context = self.execution_context
            name, kind = operations.operation_name(context), operations.operation_type(context)
            span.update_name(operations.span_name(kind, name))
            span.set_attribute("graphql.operation.type", kind)
            if name:
                span.set_attribute("graphql.operation.name", name)
            errors = operations.operation_errors(context)
            if errors:
                codes = sorted({operations.error_code(error) for error in errors})
                span.set_attribute("graphql.error.codes", codes)
                span.set_status(Status(StatusCode.ERROR, ",".join(codes)))

    def on_parse(self) -> Iterator[None]:
        with self._tracer.start_as_current_span("GraphQL parse"):
            yield

    def on_validate(self) -> Iterator[None]:
        with self._tracer.start_as_current_span("GraphQL validate"):
            yield

    def on_execute(self) -> Iterator[None]:
        with self._tracer.start_as_current_span("GraphQL execute"):
            yield


class ResolverTracing(SchemaExtension):
    """A span per resolver with code of its own (off by default: it costs per field)."""

    def __init__(self, *, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    async def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if should_skip_tracing(_next, info):
            result = _next(root, info, *args, **kwargs)
            return await result if isawaitable(result) else result
        name = f"GraphQL resolve {info.parent_type.name}.{info.field_name}"
        with self._tracer.start_as_current_span(name) as span:
            span.set_attribute("graphql.field.path", ".".join(str(p) for p in info.path.as_list()))
            result = _next(root, info, *args, **kwargs)
            return await result if isawaitable(result) else result


def incoming_trace_context(headers: Iterable[tuple[bytes, bytes]]) -> context.Context | None:
    """The trace an incoming W3C `traceparent` (and `tracestate`) names; None without one.

    Stands in for the OpenTelemetry middleware when the provider records nothing, and
    reads the headers as it does: every value of each, passed to the W3C propagator
    (which takes the first `traceparent` and joins the `tracestate`s). No `traceparent`,
    no work.
    """
    carrier: dict[str, list[str]] | None = None
    for name, value in headers:
        if name in _TRACE_HEADERS:
            if carrier is None:
                carrier = {}
            carrier.setdefault(name.decode(), []).append(value.decode("latin-1"))
    if carrier is None or "traceparent" not in carrier:
        return None
    return _W3C_TRACE_CONTEXT.extract(carrier)


class Tracing:
    """The gateway's tracer and the places it is attached."""

    def __init__(self, provider: trace.TracerProvider, *, resolver_spans: bool = False) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer(TRACER_NAME)
        self.resolver_spans = resolver_spans

    def server_spans(self, routes: Sequence[BaseRoute]) -> Callable[[ASGIApp], ASGIApp] | None:
        """HTTP server spans from an incoming `traceparent`, without receive/send spans.

        None with a no-op provider: the edge then only carries the incoming trace context
        (for the log lines).
        """
        if isinstance(self.provider, trace.NoOpTracerProvider):
            return None
        return partial(
            OpenTelemetryMiddleware,
            tracer_provider=self.provider,
            meter_provider=NoOpMeterProvider(),  # metrics go through Prometheus
            exclude_spans=["receive", "send"],
            excluded_urls=EXCLUDED_URLS,
            default_span_details=_route_span_details(routes),
            server_request_hook=without_query,
        )

    @contextmanager
    def batch(self, loader: str, size: int) -> Iterator[None]:
        with self.tracer.start_as_current_span(
            f"dataloader {loader}", attributes={"dataloader.batch_size": size}
        ):
            yield

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """A CLIENT span per SQL statement (the statement has placeholders, no values)."""
        if isinstance(self.provider, trace.NoOpTracerProvider):
            return  # nothing would be recorded: no listener to run on every statement
        system = engine.dialect.name
        tracer = self.tracer

        def before(
            _conn: Connection, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
        ) -> None:
            verb = (statement.lstrip().split(None, 1) or ["SQL"])[0].upper()
            if verb in _TRANSACTION_CONTROL or context is None:
                return
            span = tracer.start_span(
                f"SQL {verb}",
                kind=SpanKind.CLIENT,
                attributes={
                    "db.system.name": system,
                    "db.operation.name": verb,
                    "db.query.text": statement[:2000],
                },
            )
            setattr(context, _SPAN_ATTRIBUTE, span)

        def after(
            _conn: Connection,
            _cursor: Any,
            _statement: str,
            _params: Any,
            context: Any,
            _many: bool,
        ) -> None:
            span = getattr(context, _SPAN_ATTRIBUTE, None)
            if span is not None:
                span.end()
                setattr(context, _SPAN_ATTRIBUTE, None)

        def failed(exception_context: ExceptionContext) -> None:
            context = exception_context.execution_context
            span = getattr(context, _SPAN_ATTRIBUTE, None)
            if span is not None:
                span.set_status(
                    Status(StatusCode.ERROR, type(exception_context.original_exception).__name__)
                )
                span.end()
                setattr(context, _SPAN_ATTRIBUTE, None)

        event.listen(engine.sync_engine, "before_cursor_execute", before)
        event.listen(engine.sync_engine, "after_cursor_execute", after)
        event.listen(engine.sync_engine, "handle_error", failed)

    def shutdown(self) -> None:
        """Flush and stop exporting (an SDK provider only)."""
        shutdown: Callable[[], object] | None = getattr(self.provider, "shutdown", None)
        if shutdown is not None:
            shutdown()
