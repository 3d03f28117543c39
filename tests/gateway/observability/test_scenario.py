"""One scenario through the real app: its log lines, spans and metric samples.

A nested query, a mutation, a bad id and an unexpected failure, sent with a bearer
token, a cookie and a password-like variable that no log line may ever contain.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.container import Container
from gateway.settings import Settings
from tests.gateway.observability.capture import Labels, LogCapture, finished, labels, samples
from tests.gateway.world import World, as_user, gid

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiIsInJvbGUiOiJhZG1pbiJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
PASSWORD = "Correct-Horse-Battery-Staple-9"
LEAKY_EMAIL = "carol.secret@example.org"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
REMOTE_PARENT = "b7ad6b7169203331"

NESTED = """
query AliceOrders {
  me { name orders { edges { node { status lines { quantity item { name } } } } } }
}
"""
PLACE = "mutation Place($input: PlaceOrderInput!) { placeOrder(input: $input) { status } }"
BAD_ITEM = "query BadItem($id: ID!) { item(id: $id) { name } }"
CATALOG = "query Catalog { items { edges { node { name } } } }"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The resolver path, with its loader spans and a failing service; the planner's
    # spans are tested with it (tests/gateway/planner/test_prepared.py).
    settings.graphql.planner = False
    return settings


@dataclass
class Scenario:
    responses: list[httpx.Response]
    spans: list[ReadableSpan]
    logs: LogCapture


@pytest.fixture
async def scenario(
    client: httpx.AsyncClient,
    world: World,
    container: Container,
    logs: LogCapture,
    span_exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> Scenario:
    span_exporter.clear()

    async def failing_page(*_: Any) -> Any:
        # An unexpected failure whose message carries secrets and personal data.
        raise RuntimeError(f"lost {LEAKY_EMAIL} with password {PASSWORD} and Bearer {JWT}")

    monkeypatch.setattr(container.services.entities["Item"], "page", failing_page)
    secret_headers = {
        **as_user(world.alice),
        "Authorization": f"Bearer {JWT}",
        "Cookie": f"session={JWT}",
    }
    place_variables = {
        "input": {"lines": [{"itemId": gid("Item", world.widget), "quantity": 1}]},
        "password": PASSWORD,
    }
    requests: list[tuple[str, dict[str, Any], dict[str, str]]] = [
        (
            NESTED,
            {},
            {"traceparent": f"00-{TRACE_ID}-{REMOTE_PARENT}-01", "X-Request-ID": "scenario-0001"},
        ),
        (PLACE, place_variables, {}),
        (BAD_ITEM, {"id": "bad", "password": PASSWORD}, {}),
        (CATALOG, {}, {}),
    ]
    responses = [
        await client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={**secret_headers, **extra},
        )
        for query, variables, extra in requests
    ]
    return Scenario(responses, finished(span_exporter), logs)


def _http_spans(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return sorted((s for s in spans if s.name == "POST /graphql"), key=lambda s: s.start_time or 0)


def _tree(span: ReadableSpan, spans: list[ReadableSpan]) -> tuple[Any, ...]:
    """(name, children...) with children sorted, so sibling order does not matter."""
    assert span.context is not None
    children = [
        s for s in spans if s.parent is not None and s.parent.span_id == span.context.span_id
    ]
    return (span.name, *sorted((_tree(child, spans) for child in children), key=repr))


def _trace_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return trace.format_trace_id(span.context.trace_id)


async def test_the_scenario_answers_as_expected(scenario: Scenario) -> None:
    statuses = [r.status_code for r in scenario.responses]
    bodies = [r.json() for r in scenario.responses]
    assert statuses == [200, 200, 200, 200]
    assert bodies[1]["data"] == {"placeOrder": {"status": "PLACED"}}
    assert [e["extensions"]["code"] for e in bodies[2]["errors"]] == ["BAD_USER_INPUT"]
    assert [e["extensions"]["code"] for e in bodies[3]["errors"]] == ["INTERNAL_SERVER_ERROR"]


async def test_one_access_line_per_request_with_ids_and_operation(
    scenario: Scenario, world: World
) -> None:
    access = [line for line in scenario.logs.lines() if line.get("logger") == "gateway.access"]
    http = _http_spans(scenario.spans)
    for line in access:
        assert isinstance(line.pop("duration_ms"), float)
        assert isinstance(line.pop("timestamp"), str)
    operations = [("AliceOrders", "query"), ("Place", "mutation"), ("BadItem", "query")]
    operations.append(("Catalog", "query"))
    assert access == [
        {
            "event": "request",
            "level": "info",
            "logger": "gateway.access",
            "method": "POST",
            "path": "/graphql",
            "status": 200,
            "client_ip": "127.0.0.1",
            "principal_id": world.alice,
            "operation_name": name,
            "operation_type": kind,
            "request_id": response.headers["x-request-id"],
            "trace_id": _trace_id(span),
        }
        for (name, kind), response, span in zip(operations, scenario.responses, http, strict=True)
    ]
    assert access[0]["request_id"] == "scenario-0001"
    assert access[0]["trace_id"] == TRACE_ID


async def test_the_unexpected_error_is_logged_once_with_its_request_id_and_redacted(
    scenario: Scenario,
) -> None:
    errors = [line for line in scenario.logs.lines() if line["level"] == "error"]
    assert [(e["event"], e["request_id"]) for e in errors] == [
        ("unexpected error in resolver", scenario.responses[3].headers["x-request-id"])
    ]
    exception = errors[0]["exception"][0]
    assert (exception["exc_type"], exception["exc_value"]) == (
        "RuntimeError",
        "lost c***@example.org with password [redacted] and Bearer [redacted]",
    )


async def test_no_log_line_holds_a_password_a_token_a_cookie_or_an_email(
    scenario: Scenario,
) -> None:
    raw = scenario.logs.raw
    assert len(scenario.logs.lines()) >= 5
    secrets = (PASSWORD, JWT, *JWT.split("."), LEAKY_EMAIL, "alice@example.com", "session=")
    for secret in secrets:
        assert secret.encode() not in raw, secret


async def test_spans_nest_http_operation_phases_loaders_and_sql(scenario: Scenario) -> None:
    nested = _http_spans(scenario.spans)[0]
    assert nested.parent is not None
    assert (_trace_id(nested), trace.format_span_id(nested.parent.span_id)) == (
        TRACE_ID,
        REMOTE_PARENT,
    )
    assert _tree(nested, scenario.spans) == (
        "POST /graphql",
        (
            "GraphQL query AliceOrders",
            (
                "GraphQL execute",
                ("dataloader Order.customer_id", ("SQL SELECT",), ("SQL SELECT",)),
                ("dataloader items", ("SQL SELECT",)),
                ("dataloader users", ("SQL SELECT",)),
            ),
            ("GraphQL parse",),
            ("GraphQL validate",),
        ),
        ("SQL SELECT",),  # the debug identity's user lookup, before the operation
    )


async def test_no_span_carries_the_query_text_or_a_secret(scenario: Scenario) -> None:
    values = [str(value) for span in scenario.spans for value in (span.attributes or {}).values()]
    for forbidden in ("AliceOrders {", "placeOrder(", PASSWORD, JWT):
        assert not [value for value in values if forbidden in value], forbidden


async def test_operation_span_attributes(scenario: Scenario) -> None:
    operations = {s.name: dict(s.attributes or {}) for s in scenario.spans if "GraphQL " in s.name}
    assert operations["GraphQL mutation Place"] == {
        "graphql.operation.type": "mutation",
        "graphql.operation.name": "Place",
    }
    assert operations["GraphQL query BadItem"] == {
        "graphql.operation.type": "query",
        "graphql.operation.name": "BadItem",
        "graphql.error.codes": ("BAD_USER_INPUT",),
    }


async def test_metric_samples_after_the_scenario(
    scenario: Scenario, client: httpx.AsyncClient
) -> None:
    found = await _settled_samples(client)
    operation_span = next(s for s in scenario.spans if s.name == "GraphQL query AliceOrders")
    sql_in_operation = _count_named(operation_span, scenario.spans, "SQL SELECT")
    graphql = labels(method="POST", route="/graphql")
    alice = labels(operation="AliceOrders", type="query")
    ops = "gateway_graphql_operations_total"
    expected = {
        ("gateway_http_requests_total", graphql | {("status", "200")}): 4,
        ("gateway_http_request_duration_seconds_count", graphql): 4,
        (ops, alice | {("outcome", "success")}): 1,
        (ops, labels(operation="Place", type="mutation", outcome="success")): 1,
        (ops, labels(operation="BadItem", type="query", outcome="partial")): 1,
        (ops, labels(operation="Catalog", type="query", outcome="error")): 1,
        ("gateway_graphql_operation_duration_seconds_count", alice): 1,
        ("gateway_graphql_errors_total", labels(code="BAD_USER_INPUT")): 1,
        ("gateway_graphql_errors_total", labels(code="INTERNAL_SERVER_ERROR")): 1,
        ("gateway_dataloader_batch_size_count", labels(loader="items")): 1,
        ("gateway_dataloader_batch_size_sum", labels(loader="items")): 2,
        ("gateway_dataloader_batch_size_count", labels(loader="users")): 1,
        ("gateway_sql_statements_per_operation_count", alice): 1,
        ("gateway_sql_statements_per_operation_sum", alice): sql_in_operation,
        ("gateway_db_pool_connections_in_use", labels()): 0,
        ("gateway_websocket_connections", labels()): 0,
        ("gateway_graphql_active_subscriptions", labels()): 0,
    }
    assert {key: found.get(key) for key in expected} == expected
    assert sql_in_operation == 4


async def _settled_samples(client: httpx.AsyncClient) -> dict[tuple[str, Labels], float]:
    """The samples once background work after the mutation (the outbox relay, event
    delivery) has given its pooled connection back; a connection never returned keeps
    the gauge above zero and fails the comparison after the bounded wait."""
    for _ in range(100):
        response = await client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=")
        found = samples(response.text)
        if found.get(("gateway_db_pool_connections_in_use", labels())) == 0:
            break
        await asyncio.sleep(0.05)
    return found


def _count_named(span: ReadableSpan, spans: list[ReadableSpan], name: str) -> int:
    assert span.context is not None
    children = [
        s for s in spans if s.parent is not None and s.parent.span_id == span.context.span_id
    ]
    return sum((s.name == name) + _count_named(s, spans, name) for s in children)
