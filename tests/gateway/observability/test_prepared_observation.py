"""Observing a prepared answer: a constant answer (no fetch) is recorded without a
statement counter in place, with 0 statements; one with a fetch counts its statements."""

from __future__ import annotations

from opentelemetry import trace

from gateway.observability import metrics as metrics_module
from gateway.observability.metrics import Metrics
from gateway.observability.prepared import PreparedObserver
from gateway.observability.request_state import request_state
from tests.gateway.observability.capture import labels, samples


def _sent_statement() -> None:
    """What the engine's statement listener does for a request's statement."""
    counter = metrics_module._OPERATION_STATEMENTS.get()
    if counter is not None:
        counter.value += 1


def test_an_answer_without_a_fetch_is_recorded_with_no_statements_and_no_counter() -> None:
    metrics = Metrics()
    observer = PreparedObserver(metrics, trace.NoOpTracer())
    scope: dict[str, object] = {}
    for _ in range(2):
        with observer.prepared_operation(scope, "Probe", sends_sql=False) as observation:
            assert metrics_module._OPERATION_STATEMENTS.get() is None
            observation.answered = True
    seen = samples(metrics.render().decode())
    series = labels(operation="Probe", type="query")
    assert seen[("gateway_sql_statements_per_operation_count", series)] == 2.0
    assert seen[("gateway_sql_statements_per_operation_sum", series)] == 0.0
    assert (
        seen[
            (
                "gateway_graphql_operations_total",
                labels(operation="Probe", type="query", outcome="success"),
            )
        ]
        == 2.0
    )
    assert request_state(scope).graphql_operations == [("Probe", "query")] * 2


def test_an_answer_with_a_fetch_counts_its_statements_and_restores_the_counter() -> None:
    metrics = Metrics()
    observer = PreparedObserver(metrics, trace.NoOpTracer())
    with observer.prepared_operation({}, "Read") as observation:
        _sent_statement()
        _sent_statement()
        observation.answered = True
    assert metrics_module._OPERATION_STATEMENTS.get() is None
    seen = samples(metrics.render().decode())
    series = labels(operation="Read", type="query")
    assert seen[("gateway_sql_statements_per_operation_sum", series)] == 2.0


def test_an_answer_handed_back_is_not_recorded() -> None:
    metrics = Metrics()
    observer = PreparedObserver(metrics, trace.NoOpTracer())
    with observer.prepared_operation({}, "Back", sends_sql=False):
        pass
    seen = samples(metrics.render().decode())
    assert (
        "gateway_sql_statements_per_operation_count",
        labels(operation="Back", type="query"),
    ) not in seen
