"""Attacks on the operation limits, over HTTP: each is refused with its code, and the
server answers the next normal query at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query, parse

from gateway.container import Container, schema_options
from gateway.settings import Settings
from schema import build_schema
from schema.cost import operation_cost
from tests.gateway.timeouts import shorten_operation_timeout
from tests.gateway.world import World, as_user

NORMAL = "{ items(first: 2) { totalCount edges { node { sku } } } }"
NORMAL_DATA = {
    "items": {
        "totalCount": 3,
        "edges": [{"node": {"sku": "WIDGET-1"}}, {"node": {"sku": "GADGET-1"}}],
    }
}
NESTED = (
    "{ users(first: 50) { edges { node { name orders(first: 10) { totalCount edges { node {"
    " status total { amount } lines { quantity item { name } } } } } } } } }"
)
ONE = [{"line": 1, "column": 1}]


@pytest.fixture
def graphql_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(tmp_path: Path, graphql_overrides: dict[str, Any]) -> Settings:
    # The conftest settings, with the limits under test adjustable per test; rate limits
    # are off so that only the operation limits answer. An execution timeout is set after
    # validation (`shorten_operation_timeout` says what that leaves above it).
    overrides = dict(graphql_overrides)
    timeout = overrides.pop("execution_timeout_seconds", None)
    settings = Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"},
        security={
            "allow_debug_identity": True,
            "secret_key": "x" * 40,
            "argon2_time_cost": 1,
            "argon2_memory_kib": 1024,
            "argon2_parallelism": 1,
        },
        graphql=overrides,
        rate_limit={"enabled": False},
    )
    if timeout is not None:
        shorten_operation_timeout(settings, timeout)
    return settings


@pytest.fixture
async def http(client: httpx.AsyncClient, world: World) -> AsyncIterator[httpx.AsyncClient]:
    yield client
    # After every attack, a normal query is answered at once.
    started = time.monotonic()
    response = await client.post("/graphql", json={"query": NORMAL})
    assert (response.status_code, response.json()["data"]) == (200, NORMAL_DATA)
    # Bounded loosely: nothing of the attack is left running (a query waiting behind one
    # would take the execution timeout), whatever else the machine is doing.
    assert time.monotonic() - started < 5.0


async def refusal(http: httpx.AsyncClient, query: str, **body: Any) -> tuple[int, Any]:
    response = await http.post("/graphql", json={"query": query, **body})
    payload = response.json()
    assert "data" not in payload
    return response.status_code, payload["errors"]


def refused(code: str, message: str, limit: int, value: int | None = None) -> list[Any]:
    extensions: dict[str, Any] = {"code": code, "limit": limit}
    if value is not None:
        extensions["value"] = value
    return [{"message": message, "locations": ONE, "extensions": extensions}]


async def test_the_documented_nested_query_passes_and_reports_its_cost(
    http: httpx.AsyncClient, world: World
) -> None:
    response = await http.post("/graphql", json={"query": NESTED}, headers=as_user(world.admin))
    body = response.json()
    assert (response.status_code, "errors" in body) == (200, False)
    assert len(body["data"]["users"]["edges"]) == 4
    assert body["extensions"]["cost"] == {"requested": 11_201, "limit": 25_000}


async def test_a_depth_bomb_is_refused(http: httpx.AsyncClient) -> None:
    bomb = (
        "{ me { " + "orders { edges { node { customer { " * 20 + "name" + " } } } }" * 20 + " } }"
    )
    assert await refusal(http, bomb) == (
        200,
        refused("MAX_DEPTH_EXCEEDED", "operation depth 82 exceeds the limit of 12", 12, 82),
    )


async def test_an_alias_bomb_is_refused(http: httpx.AsyncClient) -> None:
    bomb = "{ me { " + " ".join(f"a{i}: name" for i in range(1000)) + " } }"
    assert await refusal(http, bomb) == (
        200,
        refused(
            "MAX_ALIASES_EXCEEDED", "operation alias count 1000 exceeds the limit of 30", 30, 1000
        ),
    )


async def test_aliases_multiplied_by_fragment_spreads_are_refused(http: httpx.AsyncClient) -> None:
    bomb = "{ me { " + "...F " * 20 + "} } fragment F on User { a: name b: name }"
    assert await refusal(http, bomb) == (
        200,
        refused("MAX_ALIASES_EXCEEDED", "operation alias count 40 exceeds the limit of 30", 30, 40),
    )


# 30,000 characters: past the document length limit, which would answer first.
@pytest.mark.parametrize("graphql_overrides", [{"max_document_chars": 100_000}])
async def test_a_token_bomb_is_refused(http: httpx.AsyncClient) -> None:
    bomb = "{ me { " + "name " * 6000 + "} }"
    assert await refusal(http, bomb) == (
        200,
        [
            {
                "message": "document token count exceeds the limit of 5000",
                "locations": [{"line": 1, "column": 8 + 4997 * 5}],
                "extensions": {"code": "MAX_TOKENS_EXCEEDED", "limit": 5000},
            }
        ],
    )


@pytest.mark.parametrize("graphql_overrides", [{"max_depth": 20}])
async def test_a_cost_bomb_is_refused(http: httpx.AsyncClient) -> None:
    level = "orders(first: 100) { edges { node { customer { "
    bomb = "{ " + level * 3 + "orders(first: 100) { totalCount }" + " } } } }" * 3 + " }"
    cost = operation_cost(build_schema(), parse(bomb))
    innermost = 1 + 100 * 1  # orders(first: 100) { totalCount }
    # orders(first: 100) { edges { node { customer { <inner> } } } }: 1 + 100 x (3 + inner)
    assert cost == 1 + 100 * (3 + 1 + 100 * (3 + 1 + 100 * (3 + innermost)))
    assert await refusal(http, bomb) == (
        200,
        [
            {
                "message": f"operation cost {cost} exceeds the limit of 25000",
                "extensions": {"code": "MAX_COST_EXCEEDED", "limit": 25_000, "value": cost},
            }
        ],
    )


async def test_a_directive_bomb_is_refused(http: httpx.AsyncClient) -> None:
    bomb = "{ me { " + "name @include(if: true) " * 100 + "} }"
    assert await refusal(http, bomb) == (
        200,
        refused(
            "MAX_DIRECTIVES_EXCEEDED",
            "operation directive count 100 exceeds the limit of 50",
            50,
            100,
        ),
    )
    # A thousand directives are 24,000 characters: the document length limit answers
    # before the parser even counts their 8,000 tokens.
    thousand = "{ me { " + "name @include(if: true) " * 1000 + "} }"
    status, errors = await refusal(http, thousand)
    assert (status, [e["extensions"]["code"] for e in errors]) == (
        200,
        ["MAX_DOCUMENT_LENGTH_EXCEEDED"],
    )


@pytest.mark.parametrize(
    "graphql_overrides", [{"max_tokens": 20_000, "max_document_chars": 100_000}]
)
async def test_a_thousand_directives_are_refused_by_the_directive_limit(
    http: httpx.AsyncClient,
) -> None:
    bomb = "{ me { " + "name @include(if: true) " * 1000 + "} }"
    status, errors = await refusal(http, bomb)
    assert (status, errors[0]) == (
        200,
        refused(
            "MAX_DIRECTIVES_EXCEEDED",
            "operation directive count 1000 exceeds the limit of 50",
            50,
            1000,
        )[0],
    )


async def test_too_many_root_fields_are_refused(http: httpx.AsyncClient) -> None:
    bomb = "{ " + "__typename " * 21 + "}"
    assert await refusal(http, bomb) == (
        200,
        refused(
            "MAX_ROOT_FIELDS_EXCEEDED",
            "operation root field count 21 exceeds the limit of 20",
            20,
            21,
        ),
    )


async def test_a_thousand_operation_batch_is_refused(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", json=[{"query": NORMAL}] * 1000)
    assert (response.status_code, response.json()) == (
        400,
        {
            "errors": [
                {
                    "message": "a batch may hold at most 10 operations",
                    "extensions": {"code": "BATCH_TOO_LARGE"},
                }
            ]
        },
    )


async def test_an_oversized_body_is_refused(http: httpx.AsyncClient) -> None:
    padding = "x" * 1_100_000
    response = await http.post("/graphql", json={"query": NORMAL, "variables": {"pad": padding}})
    assert (response.status_code, response.json()) == (
        413,
        {
            "errors": [
                {
                    "message": "the request body is too large",
                    "extensions": {"code": "PAYLOAD_TOO_LARGE"},
                }
            ]
        },
    )


@pytest.mark.parametrize("graphql_overrides", [{"introspection": False, "suggestions": False}])
async def test_introspection_and_suggestions_are_off_when_configured(
    http: httpx.AsyncClient,
) -> None:
    assert await refusal(http, "{ __schema { __typename } }") == (
        200,
        [
            {
                "message": "GraphQL introspection has been disabled, but the requested query"
                " contained the field '__schema'.",
                "locations": [{"line": 1, "column": 3}],
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
            }
        ],
    )
    assert await refusal(http, "{ itemz }") == (
        200,
        [
            {
                "message": "Cannot query field 'itemz' on type 'Query'.",
                "locations": [{"line": 1, "column": 3}],
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
            }
        ],
    )


async def test_introspection_is_on_in_dev(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", json={"query": get_introspection_query()})
    body = response.json()
    assert (response.status_code, "errors" in body) == (200, False)
    assert body["data"]["__schema"]["queryType"] == {"name": "Query", "kind": "OBJECT"}


def prod_settings(**graphql: Any) -> Settings:
    return Settings(
        profile="prod",
        security={"secret_key": "p" * 40},
        database={"url": "postgresql+asyncpg://gateway@127.0.0.1:5432/gateway"},
        redis={"url": "redis://127.0.0.1:6379/0"},
        graphql=graphql,
    )


async def test_prod_refuses_introspection_and_withholds_suggestions() -> None:
    options = schema_options(prod_settings())
    assert (options.introspection, options.suggestions) == (False, False)
    schema = build_schema(options)
    result = await schema.execute('{ __type(name: "User") { __typename } itemz }')
    assert (result.data, [e.formatted for e in result.errors or []]) == (
        None,
        [
            {
                "message": "GraphQL introspection has been disabled, but the requested query"
                " contained the field '__type'.",
                "locations": [{"line": 1, "column": 3}],
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
            },
            {
                "message": "Cannot query field 'itemz' on type 'Query'.",
                "locations": [{"line": 1, "column": 39}],
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
            },
        ],
    )
    allowed = schema_options(prod_settings(introspection=True, suggestions=True))
    assert (allowed.introspection, allowed.suggestions) == (True, True)


# A slow service on the resolver path (the planner would answer without it); a slow
# planned fetch is cancelled the same way (tests/gateway/planner/test_prepared.py).
@pytest.mark.parametrize(
    "graphql_overrides", [{"execution_timeout_seconds": 0.2, "planner": False}]
)
async def test_a_slow_operation_is_cancelled_at_the_timeout(
    http: httpx.AsyncClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    cancelled = asyncio.Event()

    async def slow_page(*_args: Any, **_kwargs: Any) -> Any:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with monkeypatch.context() as patch:
        patch.setattr(container.services.entities["Item"], "page", slow_page)
        started = time.monotonic()
        response = await http.post("/graphql", json={"query": NORMAL})
        elapsed = time.monotonic() - started
    # The fixture's closing query is an ordinary one: under the default bound, which a
    # busy machine cannot reach, not the 0.2 s under test.
    container.pipeline.execution_timeout_seconds = 10.0
    assert (response.status_code, response.json()) == (
        200,
        {
            "data": None,
            "errors": [
                {
                    "message": "the operation did not finish within 0.2 seconds",
                    "extensions": {"code": "TIMEOUT"},
                }
            ],
        },
    )
    assert cancelled.is_set()
    # At the 0.2 s bound, not at the hang's 30 s (loose above: a busy machine is slow).
    assert 0.2 <= elapsed < 10
