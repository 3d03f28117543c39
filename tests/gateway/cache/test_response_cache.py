"""The response cache over HTTP: Cache-Control, ETag and 304, hits and misses, eviction
by committed changes only, and a Redis outage that only costs the cache."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from redis.asyncio import from_url
from structlog.testing import capture_logs

from domain.money import Money
from domain.principals import Principal
from gateway.container import Container, response_cache
from gateway.graphql.persisted_queries import document_hash
from gateway.graphql.response_cache import ResponseCache
from persistence.response_cache import RedisResponseCacheStore
from tests.gateway.world import World, as_user, gid

TOTAL = "{ items { totalCount } }"
ITEM = "query($id: ID!) { item(id: $id) { name stock price { amount } } }"
PLACE = "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }"
UPDATE = (
    "mutation($id: ID!, $input: UpdateItemInput!) { updateItem(id: $id, input: $input) { id } }"
)
CREATE = "mutation($input: CreateItemInput!) { createItem(input: $input) { id } }"


@pytest.fixture(autouse=True)
async def settled(container: Container, world: World) -> None:
    """The world's own changes are published (and evicted) before the test reads."""
    await container.relay.drain()


def lookups(container: Container) -> dict[str, float | None]:
    registry = container.observability.metrics.registry
    return {
        result: registry.get_sample_value(
            "gateway_response_cache_lookups_total", {"result": result}
        )
        for result in ("hit", "miss", "error")
    }


async def get(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    params = {"query": query}
    if variables is not None:
        params["variables"] = json.dumps(variables)
    return await client.get("/graphql", params=params, headers=headers)


async def item(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    response = await get(client, ITEM, {"id": gid("Item", world.widget)})
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["data"]["item"]
    return found


async def test_get_graphql_sends_cache_control_and_etag_and_answers_304(
    client: httpx.AsyncClient, container: Container, world: World
) -> None:
    first = await get(client, TOTAL)
    etag = first.headers["etag"]
    assert (first.status_code, first.json(), dict(first.headers) | {"etag": "-"}) == (
        200,
        {"data": {"items": {"totalCount": 3}}},
        dict(first.headers) | {"etag": "-"},
    )
    assert (first.headers["cache-control"], first.headers["vary"], etag[:3]) == (
        "public, max-age=60",
        "Authorization",
        'W/"',
    )
    again = await get(client, TOTAL, headers={"If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    assert (again.headers["cache-control"]) == "public, max-age=60"
    assert lookups(container) == {"hit": 1.0, "miss": 1.0, "error": None}


async def test_an_authenticated_or_private_answer_is_private_and_the_rest_not_stored(
    client: httpx.AsyncClient, world: World
) -> None:
    alice = as_user(world.alice)
    catalog = await get(client, TOTAL, headers=alice)
    me = await get(client, "{ me { name } }", headers=alice)
    typename = await get(client, "{ __typename }")
    failing = await get(client, ITEM, {"id": "not an id"})
    posted = await client.post("/graphql", json={"query": TOTAL})
    assert [
        catalog.headers["cache-control"],
        me.headers["cache-control"],
        typename.headers["cache-control"],
        failing.headers["cache-control"],
        posted.headers.get("cache-control"),
    ] == ["private, max-age=60", "private, max-age=30", "no-store", "no-store", None]
    assert "etag" not in failing.headers


async def test_a_persisted_query_over_get_is_cached_and_answers_304(
    client: httpx.AsyncClient, container: Container, world: World
) -> None:
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": document_hash(TOTAL)}}
    registered = await client.post("/graphql", json={"query": TOTAL, "extensions": extensions})
    assert registered.json() == {"data": {"items": {"totalCount": 3}}}
    params = {"extensions": json.dumps(extensions)}
    first = await client.get("/graphql", params=params)
    again = await client.get(
        "/graphql", params=params, headers={"If-None-Match": first.headers["etag"]}
    )
    assert (first.status_code, first.json(), first.headers["cache-control"]) == (
        200,
        {"data": {"items": {"totalCount": 3}}},
        "public, max-age=60",
    )
    assert (again.status_code, again.content) == (304, b"")
    # The POST filed the answer; both GETs were answered from the cache.
    assert lookups(container) == {"hit": 2.0, "miss": 1.0, "error": None}


async def test_rest_gets_send_cache_control_and_etag_and_answer_304(
    client: httpx.AsyncClient, container: Container, world: World
) -> None:
    path = f"/api/v1/items/{gid('Item', world.widget)}"
    first = await client.get(path)
    again = await client.get(path, headers={"If-None-Match": first.headers["etag"]})
    mine = await client.get("/api/v1/orders", headers=as_user(world.alice))
    assert (first.status_code, first.json()["name"], first.headers["cache-control"]) == (
        200,
        "Widget",
        "public, max-age=60",
    )
    assert (again.status_code, again.content, again.headers["etag"]) == (
        304,
        b"",
        first.headers["etag"],
    )
    assert mine.headers["cache-control"] == "private, max-age=30"
    assert lookups(container) == {"hit": 1.0, "miss": 2.0, "error": None}


async def test_a_change_evicts_after_its_commit_and_not_before(
    client: httpx.AsyncClient, container: Container, world: World
) -> None:
    before = await item(client, world)
    assert before == {"name": "Widget", "stock": 97, "price": {"amount": "9.99"}}
    async with container.uow() as uow:
        (widget,) = (await uow.items.lock_many([world.widget])).values()
        widget.change_price(Money.of("12.50"))
        await uow.items.save(widget)
        # Written, not committed: the cached answer stands.
        assert await item(client, world) == before
        await uow.commit()
    await container.relay.drain()
    assert await item(client, world) == {
        "name": "Widget",
        "stock": 97,
        "price": {"amount": "12.50"},
    }
    assert lookups(container) == {"hit": 1.0, "miss": 2.0, "error": None}


async def test_a_rolled_back_change_evicts_nothing(
    client: httpx.AsyncClient, container: Container, world: World
) -> None:
    before = await item(client, world)
    async with container.uow() as uow:
        (widget,) = (await uow.items.lock_many([world.widget])).values()
        widget.change_price(Money.of("1.00"))
        await uow.items.save(widget)
        await uow.rollback()
    # A mutation refused after it locked the items (out of stock): rolled back too.
    refused = await client.post(
        "/graphql",
        json={
            "query": PLACE,
            "variables": {
                "input": {
                    "lines": [
                        {"itemId": gid("Item", world.widget), "quantity": 1},
                        {"itemId": gid("Item", world.last_unit), "quantity": 2},
                    ]
                }
            },
        },
        headers=as_user(world.alice),
    )
    assert refused.json()["errors"][0]["extensions"]["code"] == "OUT_OF_STOCK"
    await container.relay.drain()
    assert await item(client, world) == before
    assert lookups(container) == {"hit": 1.0, "miss": 1.0, "error": None}


async def test_a_mutation_answers_after_the_eviction_so_its_caller_reads_its_write(
    client: httpx.AsyncClient, container: Container, world: World
) -> None:
    staff = as_user(world.staff)
    assert (await get(client, TOTAL)).json() == {"data": {"items": {"totalCount": 3}}}
    assert await item(client, world) == {"name": "Widget", "stock": 97, "price": {"amount": "9.99"}}
    changed = await client.post(
        "/graphql",
        json={
            "query": UPDATE,
            "variables": {"id": gid("Item", world.widget), "input": {"name": "Sprocket"}},
        },
        headers=staff,
    )
    assert "errors" not in changed.json()
    assert await item(client, world) == {
        "name": "Sprocket",
        "stock": 97,
        "price": {"amount": "9.99"},
    }
    created = await client.post(
        "/graphql",
        json={
            "query": CREATE,
            "variables": {"input": {"sku": "NEW-1", "name": "New", "price": {"amount": "1.00"}}},
        },
        headers=staff,
    )
    assert "errors" not in created.json()
    # A new item is in no cached answer by id, but in every list of items.
    assert (await get(client, TOTAL)).json() == {"data": {"items": {"totalCount": 4}}}
    # An order takes stock: the item's answer is evicted by the order's commit.
    placed = await client.post(
        "/graphql",
        json={
            "query": PLACE,
            "variables": {
                "input": {"lines": [{"itemId": gid("Item", world.widget), "quantity": 5}]}
            },
        },
        headers=as_user(world.alice),
    )
    assert "errors" not in placed.json()
    assert (await item(client, world))["stock"] == 92


async def test_with_redis_down_answers_are_right_and_uncached(
    client: httpx.AsyncClient, container: Container, world: World
) -> None:
    dead = from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2)
    cache = container.pipeline.cache
    assert cache is not None
    container.pipeline.cache = ResponseCache(
        container.schema._schema,
        RedisResponseCacheStore(dead),
        observe=container.observability.metrics.observe_cache,
    )
    try:
        answers = [await get(client, TOTAL) for _ in range(3)]
    finally:
        await dead.aclose()
    assert [(a.status_code, a.json()) for a in answers] == [
        (200, {"data": {"items": {"totalCount": 3}}})
    ] * 3
    assert lookups(container) == {"hit": None, "miss": None, "error": 3.0}


async def test_the_composition_roots_cache_logs_a_redis_outage_once(container: Container) -> None:
    dead = from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2)
    cache = response_cache(
        container.settings, dead, container.schema, container.observability, None
    )
    assert cache is not None
    try:
        with capture_logs() as logs:
            misses = [
                await cache.lookup(TOTAL, None, None, Principal.anonymous()) for _ in range(3)
            ]
    finally:
        await dead.aclose()
    assert [(lookup.generation, lookup.found) for lookup in misses if lookup is not None] == [
        (None, None)
    ] * 3
    assert [(e["event"], e["component"]) for e in logs if "outage" in e["event"]] == [
        ("dependency outage started", "response cache")
    ]
