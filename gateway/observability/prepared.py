"""Observing an operation answered as a prepared operation (no Strawberry extensions).

The same span, metrics and access-log annotation the operation observers give a
full execution (`OperationTracing`, `OperationMetrics`, `OperationAnnotation`), for
an operation that was parsed, validated and planned earlier: there is no parse or
validate phase to record, only the execution.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace

from gateway.observability import operations
from gateway.observability.loop_metrics import Increments, Observes
from gateway.observability.metrics import CountingStatements, Metrics

QUERY = "query"
MAX_CACHED_NAMES = 1_000
_NO_SPANS = nullcontext()  # reusable: it holds no state


@dataclass(frozen=True, slots=True)
class _Series:
    operations: Increments
    duration: Observes
    statements: Observes


class PreparedObserver:
    def __init__(self, metrics: Metrics, tracer: trace.Tracer) -> None:
        self._metrics, self._tracer = metrics, tracer
        # Spans nobody records are skipped: even a no-op span costs a few microseconds,
        # a real share of a request this short.
        self._spans = not isinstance(tracer, trace.NoOpTracer)
        # Each name's metric series, looked up once (a `labels()` call is a locked lookup).
        self._series: dict[str | None, _Series] = {}

    def prepared_operation(
        self, request_scope: dict[str, Any] | None, name: str | None, *, sends_sql: bool = True
    ) -> Observation:
        """Use as `with observer.prepared_operation(scope, name) as observation:`.

        `sends_sql=False`: the answer is known without a fetch (every root a constant),
        so no statement is counted for it (0 is recorded without a counter in place).
        """
        return Observation(self, request_scope, name, sends_sql)

    def record(
        self,
        request_scope: dict[str, Any] | None,
        name: str | None,
        seconds: float,
        statements: int,
    ) -> None:
        """An answered operation: its metrics and its access-log annotation."""
        series = self._series.get(name)
        if series is None:
            series = self._series_for(name)
            if len(self._series) < MAX_CACHED_NAMES:  # names come from clients: bounded
                self._series[name] = series
        series.operations.inc()
        series.duration.observe(seconds)
        series.statements.observe(statements)
        operations.annotate(request_scope, name, QUERY)

    def _series_for(self, name: str | None) -> _Series:
        metrics = self._metrics
        label = metrics.operation_names.label(name)
        return _Series(
            metrics.graphql_operations.labels(label, QUERY, "success"),
            metrics.graphql_duration.labels(label, QUERY),
            metrics.sql_statements_per_operation.labels(label, QUERY),
        )

    def traced(self, name: str | None) -> AbstractContextManager[object]:
        if not self._spans:
            return _NO_SPANS
        spans = ExitStack()
        span = spans.enter_context(
            self._tracer.start_as_current_span(operations.span_name(QUERY, name))
        )
        span.set_attribute("graphql.operation.type", QUERY)
        span.set_attribute("graphql.operation.prepared", True)
        if name:
            span.set_attribute("graphql.operation.name", name)
        spans.enter_context(self._tracer.start_as_current_span("GraphQL execute"))
        return spans


class Observation:
    """One prepared operation under observation: set `answered` once it has its answer.

    Only an answered operation is recorded; one handed back to the full path is
    recorded there. A plain class, not a generator: it runs on every prepared answer.
    """

    __slots__ = (
        "_counting",
        "_name",
        "_observer",
        "_scope",
        "_spans",
        "_started",
        "_statements",
        "answered",
    )

    def __init__(
        self,
        observer: PreparedObserver,
        scope: dict[str, Any] | None,
        name: str | None,
        sends_sql: bool = True,
    ) -> None:
        self._observer, self._scope, self._name = observer, scope, name
        # No counter for an answer without a fetch: setting and resetting its context
        # variable was a share of the cheapest prepared answer (`{ __typename }`).
        self._counting = CountingStatements() if sends_sql else None
        self.answered = False

    def __enter__(self) -> Observation:
        self._started = time.perf_counter()
        counting = self._counting
        self._statements = counting.__enter__() if counting is not None else None
        # Spans start here (`traced` enters them), so they cover exactly the block; the
        # shared empty context of an observer without spans is not entered at all.
        spans = self._spans = self._observer.traced(self._name)
        if spans is not _NO_SPANS:
            spans.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        try:
            if self._spans is not _NO_SPANS:
                self._spans.__exit__(*exc_info)
        finally:
            if self._counting is not None:
                self._counting.__exit__(*exc_info)
        if self.answered and exc_info[0] is None:
            seconds = time.perf_counter() - self._started
            statements = self._statements.value if self._statements is not None else 0
            self._observer.record(self._scope, self._name, seconds, statements)
