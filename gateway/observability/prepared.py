"""Observing an operation answered as a prepared operation (no Strawberry extensions).

The same span, metrics and access-log annotation the operation observers give a
full execution (`OperationTracing`, `OperationMetrics`, `OperationAnnotation`), for
an operation that was parsed, validated and planned earlier: there is no parse or
validate phase to record, only the execution.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from prometheus_client import Counter, Histogram

from gateway.observability.metrics import Metrics, counting_statements

QUERY = "query"
MAX_CACHED_NAMES = 1_000
_NO_SPANS = nullcontext()  # reusable: it holds no state


@dataclass(slots=True)
class Observation:
    """Set `answered` once the operation has its answer; otherwise nothing is recorded."""

    answered: bool = False


@dataclass(frozen=True, slots=True)
class _Series:
    operations: Counter
    duration: Histogram
    statements: Histogram


class PreparedObserver:
    def __init__(self, metrics: Metrics, tracer: trace.Tracer) -> None:
        self._metrics, self._tracer = metrics, tracer
        # Spans nobody records are skipped: even a no-op span costs a few microseconds,
        # a real share of a request this short.
        self._spans = not isinstance(tracer, trace.NoOpTracer)
        # Each name's metric series, looked up once (a `labels()` call is a locked lookup).
        self._series: dict[str | None, _Series] = {}

    @contextmanager
    def prepared_operation(
        self, request_scope: dict[str, Any] | None, name: str | None
    ) -> Iterator[Observation]:
        observation = Observation()
        started = time.perf_counter()
        with counting_statements() as counter, self._traced(name):
            yield observation
        if not observation.answered:
            return
        series = self._series.get(name)
        if series is None:
            series = self._series_for(name)
            if len(self._series) < MAX_CACHED_NAMES:  # names come from clients: bounded
                self._series[name] = series
        series.operations.inc()
        series.duration.observe(time.perf_counter() - started)
        series.statements.observe(counter.value)
        if isinstance(request_scope, dict):
            state: dict[str, Any] = request_scope.setdefault("state", {})
            state.setdefault("graphql_operations", []).append((name, QUERY))

    def _series_for(self, name: str | None) -> _Series:
        metrics = self._metrics
        label = metrics.operation_names.label(name)
        return _Series(
            metrics.graphql_operations.labels(label, QUERY, "success"),
            metrics.graphql_duration.labels(label, QUERY),
            metrics.sql_statements_per_operation.labels(label, QUERY),
        )

    def _traced(self, name: str | None) -> AbstractContextManager[object]:
        if not self._spans:
            return _NO_SPANS
        spans = ExitStack()
        title = f"GraphQL {QUERY} {name}" if name else f"GraphQL {QUERY}"
        span = spans.enter_context(self._tracer.start_as_current_span(title))
        span.set_attribute("graphql.operation.type", QUERY)
        span.set_attribute("graphql.operation.prepared", True)
        if name:
            span.set_attribute("graphql.operation.name", name)
        spans.enter_context(self._tracer.start_as_current_span("GraphQL execute"))
        return spans
