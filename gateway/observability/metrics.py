"""Prometheus metrics on a registry of our own, and `/metrics` (token, separate port).

A dedicated `CollectorRegistry` per app keeps tests and several apps in one process
apart. Every label is bounded: HTTP routes are templates, methods a fixed set,
GraphQL operation names the first N valid names seen (the rest fold into `other`).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope
from strawberry.extensions import SchemaExtension

from gateway.observability import multiprocess, operations
from gateway.observability.loop_metrics import (
    Increments,
    LabelledCounter,
    LabelledHistogram,
    LoopCounter,
    LoopHistogram,
    Observes,
)

OTHER = "other"
ANONYMOUS = "anonymous"
UNMATCHED_ROUTE = "unmatched"
_VALID_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# Transaction control is not a query (as in persistence.statements).
_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
_CONTROL_WIDTH = max(len(word) for word in _TRANSACTION_CONTROL)
_BREAKER_STATES = ("closed", "open", "half_open")
_BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
_STATEMENT_BUCKETS = (0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 100)


class OperationNames:
    """Bounded label values for operation names: the first `limit` valid names seen."""

    def __init__(self, limit: int = 200) -> None:
        self._limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def label(self, name: str | None) -> str:
        if name is None:
            return ANONYMOUS
        if not _VALID_NAME.match(name):
            return OTHER
        with self._lock:
            if name in self._seen:
                return name
            if len(self._seen) < self._limit:
                self._seen.add(name)
                return name
        return OTHER


@dataclass(slots=True)
class _StatementCount:
    value: int = 0


# The statement counter of the GraphQL operation running in this context, if any.
# A mutable holder, so statements sent from dataloader tasks (which copy the context)
# still count towards their operation.
_OPERATION_STATEMENTS: ContextVar[_StatementCount | None] = ContextVar(
    "gateway_operation_statements", default=None
)


def _hot_path_kinds(
    *, multiprocess: bool
) -> tuple[Callable[..., LabelledCounter], Callable[..., LabelledHistogram]]:
    if multiprocess:
        return Counter, Histogram
    return LoopCounter, LoopHistogram


class Metrics:
    """Every metric the gateway exports, on one registry.

    With `multiprocess_dir` (a worker of `gateway serve --workers N`), every value lives
    in that directory's memory-mapped files and `render()` sums all the workers'
    (gateway.observability.multiprocess); the hot-path series are then
    prometheus_client's own rather than the lock-free kind, which only one process sees.
    """

    def __init__(
        self, *, max_operation_names: int = 200, multiprocess_dir: Path | None = None
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.operation_names = OperationNames(max_operation_names)
        self.multiprocess_dir = multiprocess_dir
        self._aggregate = (
            multiprocess.aggregate_registry(multiprocess_dir) if multiprocess_dir else None
        )
        r = self.registry
        counter, histogram = _hot_path_kinds(multiprocess=multiprocess_dir is not None)
        # Updated on every request: the lock-free kind (same exposition) in one process.
        self.http_requests: LabelledCounter = counter(
            "gateway_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration: LabelledHistogram = histogram(
            "gateway_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            registry=r,
        )
        self.graphql_operations: LabelledCounter = counter(
            "gateway_graphql_operations",
            "GraphQL operations by (bounded) name, type and outcome.",
            ["operation", "type", "outcome"],
            registry=r,
        )
        self.graphql_duration: LabelledHistogram = histogram(
            "gateway_graphql_operation_duration_seconds",
            "GraphQL operation latency by (bounded) name and type.",
            ["operation", "type"],
            registry=r,
        )
        self.graphql_errors = Counter(
            "gateway_graphql_errors",
            "GraphQL errors by extensions.code.",
            ["code"],
            registry=r,
        )
        self.dataloader_batch_size = Histogram(
            "gateway_dataloader_batch_size",
            "Keys per dataloader batch.",
            ["loader"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.sql_statements = Counter(
            "gateway_sql_statements",
            "SQL statements sent to the database, by origin: `request` (work a client waits"
            " for) or `background` (the outbox relay).",
            ["origin"],
            registry=r,
        )
        # Both series exported from the start (a counter that appears later loses its
        # first increase to rate()).
        self.sql_by_request = self.sql_statements.labels("request")
        self.sql_in_background = self.sql_statements.labels("background")
        self.sql_statements_per_operation: LabelledHistogram = histogram(
            "gateway_sql_statements_per_operation",
            "SQL statements one GraphQL operation sent, by (bounded) name and type.",
            ["operation", "type"],
            buckets=_STATEMENT_BUCKETS,
            registry=r,
        )
        # Across workers, the gauges of live workers are summed (or their minimum taken).
        self.db_pool_in_use = Gauge(
            "gateway_db_pool_connections_in_use",
            "Database connections checked out of the pool.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.db_pool_size = Gauge(
            "gateway_db_pool_size",
            "Configured size of the database pool.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.websocket_connections = Gauge(
            "gateway_websocket_connections",
            "Open WebSocket connections.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.active_subscriptions = Gauge(
            "gateway_graphql_active_subscriptions",
            "Running GraphQL subscriptions.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.rate_limit_rejections = Counter(
            "gateway_rate_limit_rejections",
            "Requests refused by a rate limit, by policy.",
            ["policy"],
            registry=r,
        )
        self.event_handler_runs = Counter(
            "gateway_event_handler_runs",
            "Event handler runs by handler and outcome (done, repeat, failed, dead).",
            ["handler", "outcome"],
            registry=r,
        )
        self.event_handler_duration = Histogram(
            "gateway_event_handler_duration_seconds",
            "Event handler run time by handler (each attempt).",
            ["handler"],
            registry=r,
        )
        self.upstream_calls = Counter(
            "gateway_upstream_calls",
            "Upstream call attempts by upstream and outcome (ok, error, timeout, open: "
            "refused by the circuit breaker, full: refused by the bulkhead).",
            ["upstream", "outcome"],
            registry=r,
        )
        self.upstream_duration = Histogram(
            "gateway_upstream_call_duration_seconds",
            "Upstream call attempt latency by upstream (those sent).",
            ["upstream"],
            registry=r,
        )
        self.upstream_retries = Counter(
            "gateway_upstream_retries",
            "Upstream attempts repeated after a failure (idempotent calls only).",
            ["upstream"],
            registry=r,
        )
        self.upstream_breaker = Gauge(
            "gateway_upstream_circuit_state",
            "1 for the circuit breaker's current state (closed, open, half_open), else 0.",
            ["upstream", "state"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.upstream_slots = Gauge(
            "gateway_upstream_in_flight",
            "Upstream calls holding a bulkhead slot.",
            ["upstream"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.response_cache_lookups = Counter(
            "gateway_response_cache_lookups",
            "Response cache lookups of cacheable queries by result (hit, miss, error).",
            ["result"],
            registry=r,
        )
        self.ready = Gauge(
            "gateway_ready",
            "1 when the last readiness check passed, else 0.",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.dependency_up = Gauge(
            "gateway_dependency_up",
            "1 when the dependency answered the last readiness check, else 0.",
            ["dependency"],
            registry=r,
            multiprocess_mode="livemin",
        )

    def render(self) -> bytes:
        """The registry in the Prometheus text format (every worker's, summed, if several)."""
        if self._aggregate is not None:
            return multiprocess.render(self._aggregate)
        return generate_latest(self.registry)

    # -- for the realtime and rate-limit work -------------------------------------------
    def websocket_opened(self) -> None:
        self.websocket_connections.inc()

    def websocket_closed(self) -> None:
        self.websocket_connections.dec()

    def subscription_started(self) -> None:
        self.active_subscriptions.inc()

    def subscription_ended(self) -> None:
        self.active_subscriptions.dec()

    def rate_limited(self, policy: str) -> None:
        self.rate_limit_rejections.labels(policy=policy).inc()

    # -- hooks wired by the composition root --------------------------------------------
    def observe_handler(self, handler: str, outcome: str, seconds: float) -> None:
        self.event_handler_runs.labels(handler, outcome).inc()
        if outcome in ("done", "failed"):
            self.event_handler_duration.labels(handler).observe(seconds)

    def observe_cache(self, result: str) -> None:
        self.response_cache_lookups.labels(result=result).inc()

    def observe_batch(self, loader: str, size: int) -> None:
        self.dataloader_batch_size.labels(loader=loader).observe(size)

    def upstream_call(self, upstream: str, outcome: str, seconds: float) -> None:
        self.upstream_calls.labels(upstream, outcome).inc()
        if outcome in ("ok", "error", "timeout"):
            self.upstream_duration.labels(upstream).observe(seconds)

    def upstream_retry(self, upstream: str) -> None:
        self.upstream_retries.labels(upstream).inc()

    def upstream_state(self, upstream: str, state: str) -> None:
        for known in _BREAKER_STATES:
            self.upstream_breaker.labels(upstream, known).set(1 if known == state else 0)

    def upstream_in_flight(self, upstream: str, in_flight: int) -> None:
        self.upstream_slots.labels(upstream).set(in_flight)

    def record_readiness(self, report: Mapping[str, bool], ready: bool) -> None:
        for name, up in report.items():
            self.dependency_up.labels(dependency=name).set(1 if up else 0)
        self.ready.set(1 if ready else 0)

    def instrument_engine(self, engine: AsyncEngine, *, background: str) -> None:
        """Count statements (overall and per operation) and watch the pool; a connection
        with the execution option `background` set does work no request waits for."""
        pool = engine.pool

        def in_use() -> float:
            checkedout: Callable[[], int] | None = getattr(pool, "checkedout", None)
            return float(checkedout()) if checkedout is not None else 0.0

        def size() -> float:
            configured: Callable[[], int] | None = getattr(pool, "size", None)
            return float(configured()) if configured is not None else 0.0

        if self.multiprocess_dir is None:
            self.db_pool_in_use.set_function(in_use)
            self.db_pool_size.set_function(size)
        else:
            # A function gauge is read by the process scraped only; across workers each
            # one keeps its value in its file.
            self.db_pool_size.set(size())
            event.listen(pool, "checkout", lambda *_: self.db_pool_in_use.inc())
            event.listen(pool, "checkin", lambda *_: self.db_pool_in_use.dec())

        by_request, in_background = self.sql_by_request, self.sql_in_background

        def before_cursor_execute(conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
            # The head only: uppercasing a whole planned statement copied it every time.
            if statement.lstrip()[:_CONTROL_WIDTH].upper().startswith(_TRANSACTION_CONTROL):
                return
            # The relay's statements apart: after a restart it delivers the backlog, a
            # burst no request caused (once 1,300 statements within one benchmark request).
            if conn.get_execution_options().get(background):
                in_background.inc()
                return
            by_request.inc()
            counter = _OPERATION_STATEMENTS.get()
            if counter is not None:
                counter.value += 1

        event.listen(engine.sync_engine, "before_cursor_execute", before_cursor_execute)


class CountingStatements:
    """Counts the SQL statements sent within (dataloader tasks included) for one operation.

    A plain class rather than a generator: it runs on every operation, prepared ones
    included, where a generator-based context manager is a measurable share.
    """

    __slots__ = ("_counter", "_token")

    def __enter__(self) -> _StatementCount:
        self._counter = _StatementCount()
        self._token = _OPERATION_STATEMENTS.set(self._counter)
        return self._counter

    def __exit__(self, *_: object) -> None:
        _OPERATION_STATEMENTS.reset(self._token)


class OperationMetrics(SchemaExtension):
    """Counts each operation by name, type and outcome; its latency, errors and SQL."""

    def __init__(self, *, metrics: Metrics) -> None:
        self._metrics = metrics

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        with CountingStatements() as counter:
            yield
        context, metrics = self.execution_context, self._metrics
        name = metrics.operation_names.label(operations.operation_name(context))
        kind = operations.operation_type(context)
        metrics.graphql_operations.labels(name, kind, operations.outcome(context)).inc()
        metrics.graphql_duration.labels(name, kind).observe(time.perf_counter() - started)
        metrics.sql_statements_per_operation.labels(name, kind).observe(counter.value)
        for error in operations.operation_errors(context):
            metrics.graphql_errors.labels(operations.error_code(error)).inc()


def _method(scope: Scope) -> str:
    method = scope.get("method", "")
    if method in _METHODS:  # as servers send it: no new string a request
        return str(method)
    method = str(method).upper()
    return method if method in _METHODS else OTHER


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/graphql`, `/api/v1/items/{id}`)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


class HttpMetrics:
    """Counts HTTP requests and their latency by method, route template and status."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        # The series of each label set, kept: `labels()` costs ~1 µs a call. Bounded as
        # the labels are (methods, route templates, status codes).
        self._series: dict[tuple[str, str, int], tuple[Increments, Observes]] = {}

    def record(self, scope: Scope, status: int, seconds: float) -> None:
        """One request answered with `status` after `seconds` (the route read from `scope`)."""
        requests, duration = self._series_for(_method(scope), route_template(scope), status)
        requests.inc()
        duration.observe(seconds)

    def _series_for(self, method: str, route: str, status: int) -> tuple[Increments, Observes]:
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            metrics = self._metrics
            series = (
                metrics.http_requests.labels(method, route, str(status)),
                metrics.http_duration.labels(method, route),
            )
            self._series[key] = series
        return series


def _authorized(header: str | None, token: str | None) -> bool:
    if token is None:
        return True
    scheme, _, presented = (header or "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(
        presented.strip().encode(), token.encode()
    )


def metrics_endpoint(metrics: Metrics, token: str | None = None) -> Callable[[Request], Any]:
    """`GET /metrics`; with a token, only for `Authorization: Bearer <token>`."""

    async def handle(request: Request) -> Response:
        if not _authorized(request.headers.get("authorization"), token):
            return Response(
                "unauthorized\n",
                status_code=401,
                media_type="text/plain",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return handle


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class MetricsServer:
    """`/metrics` on its own port, served from a daemon thread (stdlib WSGI server).

    A thread rather than a second ASGI server: uvicorn's `Server` takes the process'
    signal handlers, and a scrape must answer even while the event loop is busy.
    """

    def __init__(
        self, render: Callable[[], bytes], host: str, port: int, token: str | None
    ) -> None:
        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO") not in ("/metrics", "/"):
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"not found\n"]
            if not _authorized(environ.get("HTTP_AUTHORIZATION"), token):
                start_response(
                    "401 Unauthorized",
                    [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")],
                )
                return [b"unauthorized\n"]
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [render()]

        self._server = make_server(
            host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-server", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
