"""A database outage is UNAVAILABLE with a retry hint, tried and logged once, and ends.

The database sits behind a TCP proxy the test cuts and restores; the app is not
restarted in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from gateway.app import create_app
from gateway.container import Container, build_container
from gateway.settings import Settings
from persistence import migrate
from persistence.unit_of_work import SqlUnitOfWorkFactory
from schema.node import to_global_id
from tests.gateway.coalesced import Batches
from tests.gateway.coalesced import batches as batches  # the fixture
from tests.gateway.observability.capture import LogCapture
from tests.gateway.observability.proxy import TcpProxy
from tests.gateway.world import populate
from tests.helpers import scratch_postgres_database
from tests.services import POSTGRES_HOST, POSTGRES_PORT, require_service

ITEMS = "{ items(first: 2) { totalCount } }"
GRAPHQL_RESPONSE = "application/graphql-response+json"
MESSAGE = "the database is unavailable; try again later"
UNAVAILABLE = {"code": "UNAVAILABLE", "retryAfter": 5}


@pytest.fixture(scope="module")
def outage_database(postgres_available: bool) -> Iterator[str]:
    require_service("PostgreSQL", postgres_available)
    with scratch_postgres_database("gw_test_outages") as url:
        asyncio.run(migrate.upgrade(url))
        yield url


@dataclass
class Gateway:
    proxy: TcpProxy
    container: Container
    client: httpx.AsyncClient


@pytest.fixture(params=[True, False], ids=["planner", "resolvers"])
async def gateway(
    request: pytest.FixtureRequest, outage_database: str, logs: LogCapture
) -> AsyncIterator[Gateway]:
    async with TcpProxy(POSTGRES_HOST, POSTGRES_PORT) as proxy:
        url = sa.make_url(outage_database).set(host="127.0.0.1", port=proxy.port)
        settings = Settings(
            database={"url": url.render_as_string(hide_password=False)},
            security={"secret_key": "s" * 40},
            graphql={"planner": request.param, "report_cost": False},
            rate_limit={"enabled": False},
        )
        container = build_container(settings)
        async with container.engine.begin() as conn:
            await conn.execute(sa.text("TRUNCATE order_lines, orders, items, users CASCADE"))
        await populate(container)
        transport = httpx.ASGITransport(app=create_app(settings, container))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
                yield Gateway(proxy, container, client)
        finally:
            await container.aclose()


def outage_lines(logs: LogCapture) -> list[tuple[str, str]]:
    return [
        (line["event"], line.get("component", ""))
        for line in logs.lines()
        if line.get("dependency") == "database" or line.get("level") == "error"
    ]


async def test_a_read_while_the_database_is_cut_is_unavailable_with_a_retry_hint(
    gateway: Gateway, logs: LogCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await gateway.client.post("/graphql", json={"query": ITEMS})).json() == {
        "data": {"items": {"totalCount": 3}}
    }
    units_of_work: list[bool] = []
    real = SqlUnitOfWorkFactory.__call__

    def counting(self: SqlUnitOfWorkFactory, *, read_only: bool = False) -> Any:
        units_of_work.append(read_only)
        return real(self, read_only=read_only)

    await gateway.proxy.cut()
    monkeypatch.setattr(SqlUnitOfWorkFactory, "__call__", counting)
    modern = await gateway.client.post(
        "/graphql", json={"query": ITEMS}, headers={"accept": GRAPHQL_RESPONSE}
    )
    legacy = await gateway.client.post("/graphql", json={"query": ITEMS})
    rest = await gateway.client.get("/api/v1/items")
    error = {
        "message": MESSAGE,
        "locations": [{"line": 1, "column": 3}],
        "path": ["items"],
        "extensions": UNAVAILABLE,
    }
    planned = gateway.container.settings.graphql.planner
    if planned:
        del error["locations"]  # the planner answers for the operation, not a field node
    assert (modern.status_code, modern.headers.get("retry-after"), modern.json()) == (
        503,
        "5",
        {"data": None, "errors": [error]},
    )
    assert (legacy.status_code, legacy.json()) == (200, {"data": None, "errors": [error]})
    assert (rest.status_code, rest.headers["content-type"], rest.headers["retry-after"]) == (
        503,
        "application/problem+json",
        "5",
    )
    assert {k: v for k, v in rest.json().items() if k != "requestId"} == {
        "type": "https://python-api-base.dev/problems/unavailable",
        "title": "Service unavailable",
        "status": 503,
        "detail": MESSAGE,
        "instance": "/api/v1/items",
        "code": "UNAVAILABLE",
        "retryAfter": 5,
    }
    # Tried once: the planner's answer is the outage; the resolvers were not tried after it.
    assert units_of_work == ([] if planned else [True, True, True])
    # Logged once: the start of the outage, nothing per request.
    assert outage_lines(logs) == [("dependency outage started", "queries")]

    gateway.proxy.restore()
    again = await gateway.client.post("/graphql", json={"query": ITEMS})
    assert (again.status_code, again.json()) == (200, {"data": {"items": {"totalCount": 3}}})
    assert outage_lines(logs) == [
        ("dependency outage started", "queries"),
        ("dependency outage ended", "queries"),
    ]


async def test_a_token_cannot_be_checked_before_the_revocation_list_is_loaded(
    gateway: Gateway,
) -> None:
    # No request has loaded this replica's revocation list yet; with the database away a
    # token cannot be told from a revoked one, so the answer is "retry later", not a 500.
    token = gateway.container.tokens.issue_pair(1, ["customer"]).pair.access_token
    await gateway.proxy.cut()
    headers = {"authorization": f"Bearer {token}", "accept": GRAPHQL_RESPONSE}
    graphql = await gateway.client.post("/graphql", json={"query": ITEMS}, headers=headers)
    rest = await gateway.client.get("/api/v1/items", headers=headers)
    assert (graphql.status_code, graphql.headers.get("retry-after"), graphql.json()) == (
        503,
        "5",
        {
            "errors": [
                {
                    "message": MESSAGE,
                    "extensions": UNAVAILABLE,
                }
            ]
        },
    )
    assert (rest.status_code, rest.headers.get("retry-after"), rest.json()["retryAfter"]) == (
        503,
        "5",
        5,
    )


ITEM = "query Item($id: ID!) { item(id: $id) { name } }"


@pytest.mark.parametrize("gateway", [True], ids=["planner"], indirect=True)  # its path only
async def test_reads_by_id_sent_together_while_the_database_is_cut_are_each_unavailable(
    gateway: Gateway, logs: LogCapture, batches: Batches
) -> None:
    async def ask_together(keys: range) -> list[httpx.Response]:
        batches.sizes.clear()
        batches.expected = len(keys)
        return list(
            await asyncio.gather(
                *(
                    gateway.client.post(
                        "/graphql",
                        json={"query": ITEM, "variables": {"id": to_global_id("Item", key)}},
                        headers={"accept": GRAPHQL_RESPONSE},
                    )
                    for key in keys
                )
            )
        )

    first = await gateway.client.post(
        "/graphql", json={"query": ITEM, "variables": {"id": to_global_id("Item", 1)}}
    )
    assert first.status_code == 200, first.text  # the template prepared
    await gateway.proxy.cut()
    cut = await ask_together(range(1, 7))
    assert batches.sizes == [6]
    error = {"message": MESSAGE, "path": ["item"], "extensions": UNAVAILABLE}
    assert [(r.status_code, r.headers.get("retry-after"), r.json()) for r in cut] == [
        (503, "5", {"data": None, "errors": [error]})
    ] * 6
    assert outage_lines(logs) == [("dependency outage started", "queries")]

    gateway.proxy.restore()
    again = await ask_together(range(1, 7))
    assert batches.sizes == [6]
    assert [r.status_code for r in again] == [200] * 6
    assert all("errors" not in r.json() for r in again)
