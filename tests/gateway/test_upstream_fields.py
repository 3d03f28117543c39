"""`Item.priceIn` against the example exchange-rate service on a real loopback socket:
one batched call per request, a failing or slow service nulls that field only, an open
breaker leaves the replica ready (degraded), REST answers the documented problem."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.settings import Settings
from tests.gateway.world import World, gid
from tests.upstreams.running import running
from upstreams.exchange_rates.service import ExchangeRateService

PRICES = (
    '{ items(first: 3) { edges { node { sku price { amount } usd: priceIn(currency: "USD") '
    '{ amount } eur: priceIn(currency: "EUR") { amount currency } } } } }'
)
SKUS = ["WIDGET-1", "GADGET-1", "LAST-1"]
PRICE_AMOUNTS = ["9.99", "25.00", "5.00"]


@pytest.fixture
async def rates() -> AsyncIterator[tuple[ExchangeRateService, str]]:
    service = ExchangeRateService()
    async with running(service) as url:
        yield service, url


@pytest.fixture
def kind() -> str | None:
    return None  # the declared source offers both: its HTTP/JSON API


@pytest.fixture
def settings(tmp_path: Path, rates: tuple[ExchangeRateService, str], kind: str | None) -> Settings:
    # The conftest settings, with the exchange-rate service on the loopback.
    return Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"},
        security={
            "allow_debug_identity": True,
            "secret_key": "x" * 40,
            "argon2_time_cost": 1,
            "argon2_memory_kib": 1024,
            "argon2_parallelism": 1,
        },
        rate_limit={"report_budget": False},
        graphql={"report_cost": False},
        upstreams={
            "exchange_rates": {
                "url": rates[1],
                "kind": kind,
                "retries": 0,
                "breaker_failures": 2,
                "timeout_seconds": 0.3,
                "deadline_seconds": 1.0,
            }
        },
    )


def column_of(alias: str) -> int:
    return PRICES.index(f"{alias}:") + 1


def field_errors(message: str, extensions: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "message": message,
            "locations": [{"line": 1, "column": column_of("eur")}],
            "path": ["items", "edges", n, "node", "eur"],
            "extensions": extensions,
        }
        for n in range(3)
    ]


def by_path(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "errors": sorted(body.get("errors", []), key=lambda e: e["path"])}


def nodes(eur: Sequence[dict[str, str] | None]) -> dict[str, Any]:
    return {
        "items": {
            "edges": [
                {"node": {"sku": s, "price": {"amount": a}, "usd": {"amount": a}, "eur": e}}
                for s, a, e in zip(SKUS, PRICE_AMOUNTS, eur, strict=True)
            ]
        }
    }


@pytest.mark.parametrize(("kind", "queries"), [(None, ["pairs=USD%3AEUR"]), ("graphql", [""])])
async def test_prices_over_several_items_take_one_batched_upstream_call(
    client: httpx.AsyncClient,
    world: World,
    rates: tuple[ExchangeRateService, str],
    queries: list[str],
) -> None:
    response = await client.post("/graphql", json={"query": PRICES})
    eur = [{"amount": a, "currency": "EUR"} for a in ("9.19", "23.00", "4.60")]
    assert response.json() == {"data": nodes(eur)}
    # Three items, two currencies: one request (over HTTP/JSON, or one POST over
    # GraphQL), for the one pair that is not USD to USD.
    assert list(rates[0].stats.queries) == queries


async def test_a_failing_upstream_nulls_its_field_and_keeps_the_rest(
    client: httpx.AsyncClient, world: World, rates: tuple[ExchangeRateService, str]
) -> None:
    rates[0].behaviour.fail_status = 503
    response = await client.post("/graphql", json={"query": PRICES})
    assert (response.status_code, by_path(response.json())) == (
        200,
        {
            "data": nodes([None, None, None]),
            "errors": field_errors(
                "the upstream exchange_rates is unavailable: answered 503",
                {"code": "UPSTREAM_UNAVAILABLE", "retryAfter": 5, "upstream": "exchange_rates"},
            ),
        },
    )


async def test_a_slow_upstream_is_upstream_timeout_for_its_field_only(
    client: httpx.AsyncClient, world: World, rates: tuple[ExchangeRateService, str]
) -> None:
    rates[0].behaviour.gate = asyncio.Event()  # answers only when the test ends
    response = await client.post("/graphql", json={"query": PRICES})
    assert by_path(response.json()) == {
        "data": nodes([None, None, None]),
        "errors": field_errors(
            "the upstream exchange_rates took too long",
            {"code": "UPSTREAM_TIMEOUT", "upstream": "exchange_rates"},
        ),
    }


def upstream_series(metrics: str) -> list[str]:
    return sorted(
        line
        for line in metrics.splitlines()
        if line.startswith(("gateway_upstream_circuit_state{", "gateway_upstream_calls_total{"))
    )


async def test_an_open_breaker_shows_in_readiness_as_degraded_and_the_replica_stays_ready(
    client: httpx.AsyncClient, world: World, rates: tuple[ExchangeRateService, str]
) -> None:
    rates[0].behaviour.fail_status = 503
    for _ in range(2):  # UPSTREAMS__EXCHANGE_RATES__BREAKER_FAILURES
        await client.post("/graphql", json={"query": PRICES})
    refused = await client.post("/graphql", json={"query": PRICES})
    ready = await client.get("/health/ready")
    metrics = await client.get("/metrics")
    assert rates[0].stats.requests == 2
    assert refused.json()["errors"][0]["message"] == (
        "the upstream exchange_rates is unavailable: circuit open"
    )
    assert (ready.status_code, ready.json()) == (
        200,
        {
            "status": "degraded",
            "checks": {"database": "ok"},
            "upstreams": {"exchange_rates": "open"},
        },
    )
    assert upstream_series(metrics.text) == [
        'gateway_upstream_calls_total{outcome="error",upstream="exchange_rates"} 2.0',
        'gateway_upstream_calls_total{outcome="open",upstream="exchange_rates"} 1.0',
        'gateway_upstream_circuit_state{state="closed",upstream="exchange_rates"} 0.0',
        'gateway_upstream_circuit_state{state="half_open",upstream="exchange_rates"} 0.0',
        'gateway_upstream_circuit_state{state="open",upstream="exchange_rates"} 1.0',
    ]


async def test_rest_answers_an_item_price_and_maps_an_unavailable_upstream_to_its_problem(
    client: httpx.AsyncClient, world: World, rates: tuple[ExchangeRateService, str]
) -> None:
    path = f"/api/v1/items/{gid('Item', world.widget)}/price"
    answered = await client.get(path, params={"currency": "GBP"})
    rates[0].behaviour.fail_status = 502
    failed = await client.get(path, params={"currency": "EUR"})
    body = failed.json()
    assert (answered.status_code, answered.json()) == (
        200,
        {"priceIn": {"amount": "7.89", "currency": "GBP"}},
    )
    assert (
        failed.status_code,
        failed.headers["content-type"],
        failed.headers["retry-after"],
        body,
    ) == (
        503,
        "application/problem+json",
        "5",
        {
            "type": "https://python-api-base.dev/problems/upstream-unavailable",
            "title": "An upstream service is unavailable",
            "status": 503,
            "detail": "the upstream exchange_rates is unavailable: answered 502",
            "instance": path,
            "code": "UPSTREAM_UNAVAILABLE",
            "requestId": body.get("requestId"),
            "retryAfter": 5,
            "upstream": "exchange_rates",
        },
    )
