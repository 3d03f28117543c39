"""Prepared operations: a planned query asked again skips Strawberry, and nothing else changes.

The answer, the budget's debit and report, the metrics and the object-level rules
are those of the full path; anything unusual goes back to the full path.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from structlog.testing import capture_logs

from domain.audit import AuditContext
from domain.tokens import TokenKind
from gateway.app import create_app
from gateway.container import build_container
from gateway.observability import build_observability
from persistence.driver_reads import DriverReads
from resolvers.context import Services
from tests.gateway.observability.capture import labels, samples
from tests.gateway.planner.diff import first_difference
from tests.gateway.planner.examples import EXAMPLES, README_MY_ORDERS
from tests.gateway.planner.executions import Executions
from tests.gateway.planner.gateways import (
    ADMIN,
    CUSTOMER,
    OTHER_CUSTOMER,
    Gateway,
    Planned,
    break_the_read_model,
    settings_for,
)
from tests.gateway.timeouts import shorten_operation_timeout

MY_ORDERS = "query Mine { me { name orders(first: 3) { edges { node { id status } } } } }"


@pytest.fixture
async def budgeted(planner_database_url: str, planned: Planned) -> AsyncIterator[Gateway]:
    """The planner on, with a small cost budget (in-process limiter)."""
    settings = settings_for(planner_database_url, planner=True).model_copy(deep=True)
    settings.rate_limit.enabled = True
    settings.rate_limit.user = "100000/minute"
    settings.rate_limit.cost_budget = "500/hour"
    settings.graphql.max_cost = 500
    container = build_container(settings)
    transport = httpx.ASGITransport(app=create_app(settings, container))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield Gateway(container, client)
    await container.aclose()


@pytest.mark.parametrize(("name", "query", "variables"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
async def test_a_planned_operation_asked_again_skips_strawberry_with_the_same_answer(
    planner_on: Gateway,
    planner_off: Gateway,
    executions: Executions,
    name: str,
    query: str,
    variables: dict[str, Any],
) -> None:
    first = await planner_on.ask(query, variables, ADMIN)
    assert executions.count == 1
    again = await planner_on.ask(query, variables, ADMIN)
    assert executions.count == 1, "the second request ran Strawberry"
    reference = await planner_off.ask(query, variables, ADMIN)
    assert (again.status, again.body) == (first.status, first.body)
    got, expected = (again.status, again.body), (reference.status, reference.body)
    assert got == expected, first_difference(got, expected)


async def test_a_prepared_answer_binds_no_service_to_the_request(
    planner_on: Gateway, executions: Executions, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Binding every service to the request (for the audit) was a quarter of the CPU of a
    # small prepared request; it happens when a resolver first uses one.
    bound: list[object] = []
    original = Services.for_request

    def counting(self: Services, context: AuditContext) -> Services:
        bound.append(context)
        return original(self, context)

    monkeypatch.setattr(Services, "for_request", counting)
    first = await planner_on.ask(MY_ORDERS, {}, CUSTOMER)
    again = await planner_on.ask(MY_ORDERS, {}, CUSTOMER)
    assert (executions.count, again.body) == (1, first.body)
    assert bound == []


async def test_the_key_holds_variables_and_roles_not_the_caller(
    planner_on: Gateway, executions: Executions
) -> None:
    mine = await planner_on.ask(MY_ORDERS, {}, CUSTOMER)
    theirs = await planner_on.ask(MY_ORDERS, {}, OTHER_CUSTOMER)
    # Same roles: one plan, the caller's id bound per request.
    assert executions.count == 1
    assert mine.body["data"]["me"]["name"] != theirs.body["data"]["me"]["name"]
    await planner_on.ask(MY_ORDERS, {}, ADMIN)  # other roles: a plan of their own
    assert executions.count == 2
    by_size = "query Items($n: Int!) { items(first: $n) { edges { node { sku } } } }"
    two = await planner_on.ask(by_size, {"n": 2}, CUSTOMER)
    three = await planner_on.ask(by_size, {"n": 3}, CUSTOMER)
    assert executions.count == 4
    assert len(two.body["data"]["items"]["edges"]) == 2
    assert len(three.body["data"]["items"]["edges"]) == 3


async def test_an_anonymous_caller_is_not_answered_from_a_signed_in_callers_entry(
    planner_on: Gateway, executions: Executions
) -> None:
    await planner_on.ask(README_MY_ORDERS, {}, CUSTOMER)
    anonymous = await planner_on.ask(README_MY_ORDERS, {}, None)
    assert executions.count == 2
    assert anonymous.body["data"] == {"me": None}


async def test_the_budget_is_debited_on_every_request_and_refuses_the_same_way(
    budgeted: Gateway, executions: Executions
) -> None:
    query = "{ users(first: 50) { edges { node { name } } } }"
    answers = []
    for _ in range(40):
        answers.append(await budgeted.ask(query, {}, ADMIN))
        if "errors" in answers[-1].body:
            break
    reports = [answer.body["extensions"]["rateLimit"] for answer in answers]
    cost = reports[0]["cost"]
    assert 1 < cost < 250
    paid = [report["remaining"] for report in reports[:-1]]
    assert paid == [500 - cost * n for n in range(1, len(paid) + 1)]
    assert len(paid) == 500 // cost
    refused = answers[-1].body
    assert refused["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert "data" not in refused  # refused before execution: a request error
    # Nothing is taken by a refusal, on either path.
    assert reports[-1]["remaining"] == paid[-1]
    assert executions.count == 2  # the first request, and the refusal's full path


async def test_a_prepared_answer_is_counted_once_in_the_metrics(planner_on: Gateway) -> None:
    query = "query CountMe { items(first: 2) { edges { node { sku } } } }"
    for _ in range(3):
        await planner_on.ask(query, {}, ADMIN)
    seen = samples(planner_on.container.observability.metrics.render().decode())
    operations = labels(operation="CountMe", outcome="success", type="query")
    assert seen[("gateway_graphql_operations_total", operations)] == 3.0
    # One statement per root field on every path: 3 requests, 3 statements.
    statements = labels(operation="CountMe", type="query")
    assert seen[("gateway_sql_statements_per_operation_sum", statements)] == 3.0


async def test_a_fault_on_the_prepared_path_goes_back_to_the_full_path(
    planner_on: Gateway,
    planner_off: Gateway,
    executions: Executions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await planner_on.ask(README_MY_ORDERS, {}, CUSTOMER)

    break_the_read_model(monkeypatch)
    with capture_logs() as logs:
        got = await planner_on.ask(README_MY_ORDERS, {}, CUSTOMER)
    expected = await planner_off.ask(README_MY_ORDERS, {}, CUSTOMER)
    assert (got.status, got.body) == (expected.status, expected.body)
    assert executions.count == 3  # the full path answered the faulty request
    # Logged once, by the full path's planner; the prepared entry is dropped.
    errors = [entry["event"] for entry in logs if entry["log_level"] == "error"]
    assert errors == ["read planner failed; answered by the resolvers"]
    assert len(planner_on.container.prepared or []) == 0


async def test_a_batch_and_a_persisted_query_are_answered_prepared(
    planner_on: Gateway, executions: Executions
) -> None:
    query = "query Catalog { items(first: 2) { edges { node { sku } } } }"
    digest = hashlib.sha256(query.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    registered = await planner_on.client.post(
        "/graphql", json={"query": query, "extensions": extensions}
    )
    assert executions.count == 1
    by_hash = await planner_on.client.post("/graphql", json={"extensions": extensions})
    batch = await planner_on.client.post(
        "/graphql", json=[{"query": query}, {"extensions": extensions}]
    )
    assert executions.count == 1
    assert by_hash.json() == registered.json()
    assert batch.json() == [registered.json(), registered.json()]


async def test_a_prepared_answer_has_its_operation_span_and_sql_span(
    planner_database_url: str,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = settings_for(planner_database_url, planner=True)
    container = build_container(settings, build_observability(settings, tracer_provider=provider))
    transport = httpx.ASGITransport(app=create_app(settings, container))
    query = "query Traced { items(first: 2) { edges { node { sku } } } }"
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            await client.post("/graphql", json={"query": query})
            exporter.clear()
            await client.post("/graphql", json={"query": query})
    finally:
        await container.aclose()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    operation = spans["GraphQL query Traced"]
    assert operation.attributes is not None
    assert operation.attributes["graphql.operation.prepared"] is True
    assert "GraphQL parse" not in spans  # parsed once, by the first request
    sql = spans["SQL SELECT"]
    execute = spans["GraphQL execute"]
    assert sql.parent is not None
    assert execute.parent is not None
    assert (sql.parent.span_id, execute.parent.span_id) == (
        execute.context.span_id,
        operation.context.span_id,
    )


async def test_prepared_operations_can_be_turned_off(
    planner_database_url: str, executions: Executions
) -> None:
    settings = settings_for(planner_database_url, planner=True).model_copy(deep=True)
    settings.graphql.prepared_operations = False
    container = build_container(settings)
    assert container.prepared is None
    transport = httpx.ASGITransport(app=create_app(settings, container))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            for _ in range(2):
                await client.post("/graphql", json={"query": "{ items(first: 1) { totalCount } }"})
    finally:
        await container.aclose()
    assert executions.count == 2


async def test_a_constant_answer_is_prepared_without_fetching(
    planner_on: Gateway, planned: Planned, executions: Executions
) -> None:
    query = "query Probe { __typename }"
    answers = [await planner_on.ask(query, {}, None) for _ in range(3)]
    assert executions.count == 1
    assert planned.count == 1  # only the full path's planner fetched (no SQL: constants)
    assert [answer.body["data"] for answer in answers] == [{"__typename": "Query"}] * 3
    assert answers[1].body == answers[0].body


async def test_each_operation_of_a_document_is_prepared_apart(
    planner_on: Gateway, executions: Executions
) -> None:
    document = (
        "query Two { items(first: 2) { edges { node { sku } } } } "
        "query Three { items(first: 3) { edges { node { sku } } } }"
    )

    async def sizes() -> list[int]:
        found = []
        for name in ("Two", "Three"):
            answer = await planner_on.client.post(
                "/graphql", json={"query": document, "operationName": name}
            )
            found.append(len(answer.json()["data"]["items"]["edges"]))
        return found

    assert await sizes() == [2, 3]
    assert await sizes() == [2, 3]
    assert executions.count == 2  # each operation ran the full path once


async def test_a_slow_prepared_fetch_is_cancelled_at_the_execution_timeout(
    planner_database_url: str,
) -> None:
    settings = settings_for(planner_database_url, planner=True).model_copy(deep=True)
    shorten_operation_timeout(settings, 0.2)
    container = build_container(settings)
    assert container.prepared is not None
    transport = httpx.ASGITransport(app=create_app(settings, container))
    query = {"query": "{ items(first: 1) { totalCount } }"}
    cancelled = asyncio.Event()

    async def hangs(*_args: Any) -> dict[str, str]:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return {}

    # The prepared path's bound is the one under test. The first ask runs the full path
    # on a new engine (a new connection, the plan compiled), which on a busy machine
    # takes longer than 0.2 s: it runs under the default bound, the replay under 0.2 s.
    container.pipeline.execution_timeout_seconds = 10.0
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            assert "errors" not in (await client.post("/graphql", json=query)).json()
            container.pipeline.execution_timeout_seconds = 0.2
            container.prepared._fetch = hangs  # the database stops answering
            started = time.monotonic()
            response = await client.post("/graphql", json=query)
            elapsed = time.monotonic() - started
    finally:
        await container.aclose()
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == "TIMEOUT"
    assert cancelled.is_set()
    # At the 0.2 s bound, not at the hang's 30 s (loose above: a busy machine is slow).
    assert 0.2 <= elapsed < 10


async def test_the_least_recently_used_entry_is_the_one_forgotten(
    planner_on: Gateway, executions: Executions
) -> None:
    assert planner_on.container.prepared is not None
    planner_on.container.prepared._maxsize = 2
    first, second, third = (
        f"query Q{n} {{ items(first: {n}) {{ totalCount }} }}" for n in (1, 2, 3)
    )
    for query in (first, second, first, third):  # `first` used again before `third` comes
        await planner_on.ask(query, {}, ADMIN)
    assert executions.count == 3
    await planner_on.ask(first, {}, ADMIN)  # still prepared
    assert executions.count == 3
    await planner_on.ask(second, {}, ADMIN)  # forgotten: the full path again
    assert executions.count == 4


async def _rest(gateway: Gateway, path: str, user: int) -> tuple[int, Any, str | None]:
    response = await gateway.client.get(path, headers={"X-Debug-User": str(user)})
    return response.status_code, response.json(), response.headers.get("etag")


@pytest.mark.parametrize("user", [CUSTOMER, ADMIN])
async def test_a_repeated_rest_read_is_answered_by_the_replay(
    planner_on: Gateway,
    planner_off: Gateway,
    planned: Planned,
    executions: Executions,
    user: int,
) -> None:
    listed = await _rest(planner_on, "/api/v1/items?first=3", user)
    item_id = listed[1]["data"][0]["id"]
    by_id = f"/api/v1/items/{item_id}"
    first = await _rest(planner_on, by_id, user)
    # The list and the item, each through Strawberry once, both planned.
    assert (executions.count, planned.count) == (2, 2)
    again = [await _rest(planner_on, path, user) for path in ("/api/v1/items?first=3", by_id)]
    assert executions.count == 2, "a repeated REST read ran Strawberry"
    assert planned.count == 4, "the replay fetches through the read model"
    assert again == [listed, first]
    reference = [await _rest(planner_off, path, user) for path in ("/api/v1/items?first=3", by_id)]
    assert again == reference


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
@pytest.mark.parametrize("root", ["users", "orders"])
async def test_paging_by_time_with_the_answers_own_cursors_replays_each_page_alike(
    planner_on: Gateway, planner_off: Gateway, executions: Executions, root: str, direction: str
) -> None:
    """Each page asked with the previous page's `endCursor` (written by the SQL: times
    on the second and with microseconds, ties), then asked again (a prepared replay),
    is the resolvers' page: the cursors the planner writes, it and the resolvers read
    back alike."""
    query = (
        f"query Page($after: String) {{ {root}(first: 40, after: $after, "
        f"orderBy: {{field: CREATED_AT, direction: {direction}}}) {{ edges {{ cursor node {{ id "
        f"createdAt }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
    )
    after: str | None = None
    pages = 0
    while pages < 4:  # orders: the first 160 of 300, users: all 60
        pages += 1
        variables = {"after": after}
        planned = await planner_on.ask(query, variables, ADMIN)
        again = await planner_on.ask(query, variables, ADMIN)
        reference = await planner_off.ask(query, variables, ADMIN)
        assert (planned.status, planned.body) == (again.status, again.body)
        got, expected = (again.status, again.body), (reference.status, reference.body)
        assert got == expected, first_difference(got, expected)
        info = planned.body["data"][root]["pageInfo"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    # Strawberry ran for each page's first ask and its reference: every replay skipped it.
    assert (executions.count, pages) == (2 * pages, 2 if root == "users" else 4)


async def test_a_replayed_read_takes_the_driver_on_postgres_and_refuses_a_revoked_token(
    planner_on: Gateway, planner_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The replay on Postgres sends its statement to the driver on a pooled connection
    # (persistence.driver_reads); the token is still checked on every request.
    reads: list[int] = []
    original = DriverReads.fetch

    async def counted(self: DriverReads, *args: Any) -> list[Any]:
        reads.append(1)
        return await original(self, *args)

    monkeypatch.setattr(DriverReads, "fetch", counted)
    container = planner_on.container
    token, claims = container.tokens.issue(TokenKind.ACCESS, CUSTOMER, ["customer"])
    headers = {"Authorization": f"Bearer {token}"}
    query = {"query": "{ items(first: 2) { edges { node { sku } } } }"}
    first, again = [
        await planner_on.client.post("/graphql", json=query, headers=headers) for _ in range(2)
    ]
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert "errors" not in again.json()
    on_postgres = planner_database_url.startswith("postgresql")
    assert len(reads) == (2 if on_postgres else 0)  # the full path's read, the replay's
    await container.revocations.revoke(claims.jti, claims.expires_at)
    refused = await planner_on.client.post("/graphql", json=query, headers=headers)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert len(reads) == (2 if on_postgres else 0)
