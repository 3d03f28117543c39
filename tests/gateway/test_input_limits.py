"""Bad input is answered BAD_USER_INPUT (or a document limit's code), never a crash.

Every example of issue 14's "masked crashes on bad input", on both databases: the
NUL byte reached PostgreSQL, the amount overflowed its 64-bit column, the 500-filter
`or` overflowed the recursion limit, and long aliases and literals were accepted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.settings import Settings
from persistence import migrate
from persistence.database import create_engine
from tests.gateway.world import World, as_user
from tests.helpers import scratch_postgres_database
from tests.persistence.databases import EMPTY_POSTGRES
from tests.services import require_service


@pytest.fixture(scope="module")
def postgres_url(postgres_available: bool) -> Iterator[str]:
    require_service("PostgreSQL", postgres_available)
    with scratch_postgres_database("gw_test_input_limits") as url:
        asyncio.run(migrate.upgrade(url))
        yield url


async def _empty(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(EMPTY_POSTGRES)
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    if request.param == "postgres":
        url = str(request.getfixturevalue("postgres_url"))
        asyncio.run(_empty(url))
        settings.database.url = url
    settings.rate_limit.enabled = False
    return settings


async def _post(
    client: httpx.AsyncClient, world: World, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers=as_user(world.admin),
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _refusal(message: str, code: str = "BAD_USER_INPUT", **more: Any) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code, **more}}]}


NUL = "a string may not contain NUL characters"


async def test_a_nul_character_in_a_variable_is_bad_input(
    client: httpx.AsyncClient, world: World
) -> None:
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("query($s: String) { items(filter: {sku: $s}) { totalCount } }", {"s": "\u0000"}, "s"),
        (
            "query($s: String) { items(filter: {nameContains: $s}) { totalCount } }",
            {"s": "lamp\u0000"},
            "s",
        ),
        (
            'mutation($e: String!) { login(email: $e, password: "x") { accessToken } }',
            {"e": "a\u0000@example.com"},
            "e",
        ),
        (
            "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
            {"i": {"email": "n@example.com", "password": "Correct-Horse-7-X", "name": "N\u0000"}},
            "i.name",
        ),
    ]
    for query, variables, where in cases:
        assert await _post(client, world, query, variables) == _refusal(f"variable ${where}: {NUL}")


async def test_a_nul_character_in_a_literal_is_bad_input(
    client: httpx.AsyncClient, world: World
) -> None:
    body = await _post(
        client, world, '{ items(filter: {nameContains: "a\\u0000"}) { totalCount } }'
    )
    assert body == {
        "errors": [
            {
                "message": f"argument filter: {NUL}",
                "locations": [{"line": 1, "column": 9}],
                "extensions": {"code": "BAD_USER_INPUT"},
            }
        ]
    }


async def test_an_amount_beyond_the_column_is_bad_input(
    client: httpx.AsyncClient, world: World
) -> None:
    problem = "must be between -9999999999999.99 and 9999999999999.99"
    queries = {
        "items": '{ items(filter: {priceAtMost: {amount: "99999999999999999.99"}})'
        " { totalCount } }",
        "createItem": 'mutation { createItem(input: {sku: "BIG-1", name: "Big",'
        ' price: {amount: "99999999999999999.99"}}) { id } }',
    }
    for root, query in queries.items():
        body = await _post(client, world, query)
        [error] = body["errors"]
        assert (body["data"], error["path"], error["message"], error["extensions"]) == (
            None,
            [root],
            f"amount: {problem}",
            {"problems": [{"field": "amount", "message": problem}], "code": "BAD_USER_INPUT"},
        )


async def test_a_price_and_a_stock_past_what_orders_can_sum_are_bad_input(
    client: httpx.AsyncClient, world: World
) -> None:
    body = await _post(
        client,
        world,
        'mutation { createItem(input: {sku: "BIG-2", name: "Big",'
        ' price: {amount: "100000000000"}, stock: 2147483647}) { id } }',
    )
    assert body["errors"][0]["extensions"] == {
        "problems": [
            {"field": "price", "message": "must be at most 1000000000.00"},
            {"field": "stock", "message": "must be at most 1,000,000,000"},
        ],
        "code": "BAD_USER_INPUT",
    }


async def test_filter_lists_and_nesting_are_bounded(
    client: httpx.AsyncClient, world: World
) -> None:
    query = "query($f: ItemFilter) { items(filter: $f) { totalCount } }"
    many = {"f": {"or": [{"sku": "A"}] * 500}}
    assert await _post(client, world, query, many) == _refusal(
        "variable $f.or: a list may hold at most 100 items"
    )
    nested: dict[str, Any] = {"sku": "A"}
    for _ in range(40):
        nested = {"not": nested}
    assert await _post(client, world, query, {"f": nested}) == _refusal(
        "variable $f" + ".not" * 16 + ": input objects may be nested at most 16 deep"
    )
    literal = "{ items(filter: {or: [" + ", ".join(['{sku: "A"}'] * 500) + "]}) { totalCount } }"
    body = await _post(client, world, literal)
    assert [e["message"] for e in body["errors"]] == [
        "argument filter: a list may hold at most 100 items"
    ]
    # At the limit, a flat `or` compiles without recursion: no RecursionError.
    hundred = {"f": {"or": [{"sku": f"S-{n}"} for n in range(100)]}}
    assert await _post(client, world, query, hundred) == {"data": {"items": {"totalCount": 0}}}


async def test_a_long_document_is_refused_before_it_is_parsed(
    client: httpx.AsyncClient, world: World
) -> None:
    alias = "{ " + "a" * 1_000_000 + ": __typename }"
    literal = '{ items(filter: {sku: "' + "a" * 1_000_000 + '"}) { totalCount } }'
    for query in (alias, literal):
        assert await _post(client, world, query) == _refusal(
            f"document length {len(query)} exceeds the limit of 15000",
            "MAX_DOCUMENT_LENGTH_EXCEEDED",
            limit=15000,
            value=len(query),
        )


async def test_long_names_and_long_strings_are_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    body = await _post(client, world, "{ " + "a" * 200 + ": __typename }")
    assert body == {
        "errors": [
            {
                "message": "name length 200 exceeds the limit of 128",
                "locations": [{"line": 1, "column": 3}],
                "extensions": {"code": "MAX_NAME_LENGTH_EXCEEDED", "limit": 128, "value": 200},
            }
        ]
    }
    query = "query($s: String) { items(filter: {nameContains: $s}) { totalCount } }"
    assert await _post(client, world, query, {"s": "x" * 10_001}) == _refusal(
        "variable $s: a string may hold at most 10000 characters"
    )
