"""Logs, metrics and traces, bundled for the composition root.

`build_observability(settings)` makes one `Observability` per app: the container
instruments its engine and schema with it, the app its routes, and the edge
(`gateway.http.edge`) its metrics and tracing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import BaseRoute, Route

from gateway.observability import multiprocess
from gateway.observability.metrics import (
    Metrics,
    MetricsServer,
    OperationMetrics,
    metrics_endpoint,
)
from gateway.observability.operations import OperationAnnotation
from gateway.observability.tracing import (
    OperationTracing,
    ResolverTracing,
    Tracing,
    tracer_provider_for,
)
from gateway.settings import Settings
from schema import ExtensionFactory

METRICS_PATH = "/metrics"


class Observability:
    """One app's metrics registry, tracer and the hooks that feed them."""

    def __init__(self, settings: Settings, metrics: Metrics, tracing: Tracing) -> None:
        self.settings, self.metrics, self.tracing = settings, metrics, tracing
        self._metrics_server: MetricsServer | None = None

    def instrument_engine(self, engine: AsyncEngine, *, background: str) -> None:
        """Metrics and spans on `engine`; `background`: the execution option marking
        work no request waits for (the outbox relay's), counted apart."""
        self.metrics.instrument_engine(engine, background=background)
        self.tracing.instrument_engine(engine)

    def schema_observers(self) -> list[ExtensionFactory]:
        """Extensions that watch operations; they must come before the error mapping."""
        observers: list[ExtensionFactory] = [
            partial(OperationTracing, tracer=self.tracing.tracer),
            partial(OperationMetrics, metrics=self.metrics),
            OperationAnnotation,
        ]
        if self.tracing.resolver_spans:
            observers.append(partial(ResolverTracing, tracer=self.tracing.tracer))
        return observers

    @contextmanager
    def observe_batch(self, loader: str, size: int) -> Iterator[None]:
        """Around each dataloader batch: its size measured, a span around it."""
        self.metrics.observe_batch(loader, size)
        with self.tracing.batch(loader, size):
            yield

    def _token(self) -> str | None:
        token = self.settings.metrics.token
        return token.get_secret_value() if token is not None else None

    def routes(self) -> list[BaseRoute]:
        """`GET /metrics` on the main port, unless METRICS__PORT moves it."""
        if self.settings.metrics.port is not None:
            return []
        handle = metrics_endpoint(self.metrics, self._token())
        return [Route(METRICS_PATH, handle, methods=["GET"], include_in_schema=False)]

    def start(self) -> None:
        """Open the separate metrics port, when configured (app start-up). A worker of
        several leaves it to the supervisor (`gateway serve --workers N`), which serves
        every worker's metrics on it."""
        port = self.settings.metrics.port
        if port is None or self._metrics_server is not None:
            return
        if self.metrics.multiprocess_dir is None:
            server = MetricsServer(
                self.metrics.render, self.settings.metrics.host, port, self._token()
            )
            self._metrics_server = server.start()

    def close(self) -> None:
        """Stop the metrics port and flush spans (app shutdown)."""
        if self._metrics_server is not None:
            self._metrics_server.close()
            self._metrics_server = None
        if self.metrics.multiprocess_dir is not None:
            multiprocess.worker_stopped(self.metrics.multiprocess_dir)
        self.tracing.shutdown()


def build_observability(
    settings: Settings, *, tracer_provider: trace.TracerProvider | None = None
) -> Observability:
    """Metrics on a fresh registry; traces to OTLP when configured (or `tracer_provider`)."""
    telemetry = settings.telemetry
    provider = tracer_provider or tracer_provider_for(
        telemetry.otlp_endpoint,
        service_name=telemetry.service_name,
        sample_ratio=telemetry.sample_ratio,
    )
    return Observability(
        settings,
        Metrics(
            max_operation_names=settings.metrics.max_operation_names,
            multiprocess_dir=multiprocess.directory(),
        ),
        Tracing(provider, resolver_spans=telemetry.resolver_spans),
    )
