"""Persisted queries over HTTP: Apollo APQ and the trusted-documents mode."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import httpx
import orjson
import pytest
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError
from strawberry.extensions.parser_cache import _get_parse_cache
from strawberry.extensions.validation_cache import _get_validate_cache

from gateway.app import create_app
from gateway.container import Container, build_container
from gateway.graphql.persisted_queries import (
    MemoryDocumentStore,
    PersistedQueries,
    RedisDocumentStore,
    document_hash,
    load_manifest,
)
from gateway.settings import Settings
from schema import SchemaOptions
from tests.gateway.world import World

GRAPHQL_RESPONSE = "application/graphql-response+json"
ITEM_NAMES = "{ items(first: 1) { edges { node { name } } } }"
WIDGET = {"items": {"edges": [{"node": {"name": "Widget"}}]}}


def persisted(query: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": document_hash(query)}}


def unique(query: str) -> str:
    # A fresh text, so the module-level parser cache has never seen it.
    return f"# {uuid.uuid4()}\n{query}"


async def test_an_unknown_hash_answers_persisted_query_not_found(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/graphql", json={"extensions": persisted(unique(ITEM_NAMES))})
    assert response.status_code == 200
    assert response.json() == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ]
    }


async def test_an_unknown_hash_is_a_400_for_graphql_response_json(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/graphql",
        json={"extensions": persisted(unique(ITEM_NAMES))},
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {"code": "PERSISTED_QUERY_NOT_FOUND"}


async def test_a_registered_hash_alone_runs_over_post_and_get(
    client: httpx.AsyncClient, world: World
) -> None:
    query = unique(ITEM_NAMES)
    registered = await client.post(
        "/graphql", json={"query": query, "extensions": persisted(query)}
    )
    assert registered.json()["data"] == WIDGET

    over_post = await client.post("/graphql", json={"extensions": persisted(query)})
    over_get = await client.get(
        "/graphql", params={"extensions": orjson.dumps(persisted(query)).decode()}
    )
    assert (over_post.status_code, over_post.json()["data"]) == (200, WIDGET)
    assert (over_get.status_code, over_get.json()["data"]) == (200, WIDGET)


async def test_a_query_that_does_not_match_its_hash_is_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    query = unique(ITEM_NAMES)
    response = await client.post(
        "/graphql", json={"query": query, "extensions": persisted(unique(ITEM_NAMES))}
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "message": "the query's sha256 does not match persistedQuery.sha256Hash",
                "extensions": {"code": "PERSISTED_QUERY_HASH_MISMATCH"},
            }
        ]
    }
    # Nothing was stored under the claimed hash.
    retry = await client.post("/graphql", json={"extensions": persisted(query)})
    assert retry.json()["errors"][0]["extensions"] == {"code": "PERSISTED_QUERY_NOT_FOUND"}


async def test_a_persisted_query_of_another_version_is_refused(
    client: httpx.AsyncClient,
) -> None:
    extensions = {"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}}
    response = await client.post("/graphql", json={"extensions": extensions})
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "message": "persistedQuery must be {version: 1, sha256Hash}",
                "extensions": {"code": "PERSISTED_QUERY_INVALID"},
            }
        ]
    }


async def test_a_mutation_by_hash_over_get_is_still_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    mutation = unique("mutation { logout }")
    await client.post("/graphql", json={"query": mutation, "extensions": persisted(mutation)})
    response = await client.get(
        "/graphql", params={"extensions": orjson.dumps(persisted(mutation)).decode()}
    )
    assert response.status_code == 405


def lru_stats(cached: Callable[..., Any]) -> tuple[int, int]:
    # Strawberry types its lru_cache wrappers as plain callables.
    info = cast("functools._lru_cache_wrapper[Any]", cached).cache_info()
    return info.hits, info.misses


async def test_a_hash_only_request_neither_parses_nor_validates_again(
    client: httpx.AsyncClient, world: World
) -> None:
    parse = _get_parse_cache(SchemaOptions().cache_size)
    validate = _get_validate_cache(SchemaOptions().cache_size)
    query = unique(ITEM_NAMES)
    await client.post("/graphql", json={"query": query, "extensions": persisted(query)})
    parsed, validated = lru_stats(parse), lru_stats(validate)

    response = await client.post("/graphql", json={"extensions": persisted(query)})

    assert response.json()["data"] == WIDGET
    # No new miss: answered from the caches, or (planned the first time) as a prepared
    # operation that does not look at them.
    assert lru_stats(parse)[1] == parsed[1]
    assert lru_stats(validate)[1] == validated[1]


async def test_the_lru_store_forgets_the_least_recently_used_document() -> None:
    store = MemoryDocumentStore(maxsize=2)
    await store.put("a", "{ a }")
    await store.put("b", "{ b }")
    assert await store.get("a") == "{ a }"
    await store.put("c", "{ c }")
    assert [await store.get(key) for key in ("a", "b", "c")] == ["{ a }", None, "{ c }"]


async def test_without_a_store_a_request_without_a_hash_passes_through() -> None:
    queries = PersistedQueries(MemoryDocumentStore())
    params = {"query": "{ __typename }"}
    assert await queries.resolve(params) is params


# Trusted documents ----------------------------------------------------------------------

TRUSTED = "query ItemNames { items(first: 1) { edges { node { name } } } }"


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "trusted-documents.json"
    path.write_bytes(orjson.dumps({document_hash(TRUSTED): TRUSTED}))
    return path


@pytest.fixture
async def trusted_client(
    settings: Settings, container: Container, manifest: Path
) -> AsyncIterator[httpx.AsyncClient]:
    # A container of its own: the pipeline it builds reads the trusted documents.
    graphql = settings.graphql.model_copy(update={"trusted_documents": manifest})
    trusted = build_container(settings.model_copy(update={"graphql": graphql}))
    transport = httpx.ASGITransport(app=create_app(trusted.settings, trusted))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            yield http
    finally:
        await trusted.aclose()


async def test_trusted_mode_runs_a_listed_hash(
    trusted_client: httpx.AsyncClient, world: World
) -> None:
    by_hash = await trusted_client.post("/graphql", json={"extensions": persisted(TRUSTED)})
    by_text = await trusted_client.post("/graphql", json={"query": TRUSTED})
    assert (by_hash.status_code, by_hash.json()["data"]) == (200, WIDGET)
    assert (by_text.status_code, by_text.json()["data"]) == (200, WIDGET)


async def test_trusted_mode_refuses_any_other_document(
    trusted_client: httpx.AsyncClient, world: World
) -> None:
    other = "{ items(first: 1) { totalCount } }"
    refused = {
        "errors": [
            {
                "message": "only trusted documents may run on this server",
                "extensions": {"code": "PERSISTED_QUERY_NOT_ALLOWED"},
            }
        ]
    }
    plain = await trusted_client.post("/graphql", json={"query": other})
    assert (plain.status_code, plain.json()) == (200, refused)

    # Registering through APQ is not a way in.
    register = await trusted_client.post(
        "/graphql", json={"query": other, "extensions": persisted(other)}
    )
    assert register.json() == {
        "errors": [
            {
                "message": "the document is not in the trusted list",
                "extensions": {"code": "PERSISTED_QUERY_NOT_ALLOWED"},
            }
        ]
    }
    strict = await trusted_client.post(
        "/graphql", json={"query": other}, headers={"accept": GRAPHQL_RESPONSE}
    )
    assert strict.status_code == 400


def test_a_manifest_entry_whose_hash_is_wrong_is_refused_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(orjson.dumps({"0" * 64: TRUSTED}))
    with pytest.raises(ValueError, match="is not the sha256 of its document"):
        load_manifest(path)


class FailingRedis:
    """Every call fails, as a Redis that hangs does once its socket timeouts run out."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def get(self, key: str) -> bytes | None:
        self.calls.append(f"get {key}")
        raise RedisTimeoutError("Timeout reading from 127.0.0.1:6379")

    async def set(self, key: str, value: str, ex: int) -> None:
        self.calls.append(f"set {key}")
        raise RedisTimeoutError("Timeout reading from 127.0.0.1:6379")


async def test_after_a_redis_failure_the_store_leaves_redis_alone_for_a_while() -> None:
    redis, now = FailingRedis(), [100.0]
    store = RedisDocumentStore(
        cast(Redis, redis),  # a fake with the two calls the store makes
        ttl_seconds=60,
        retry_after_seconds=5,
        clock=lambda: now[0],
    )
    answers = [await store.get("a"), await store.get("b")]
    await store.put("b", "{ b }")
    answers += [await store.get("b")]
    now[0] += 5
    answers += [await store.get("c")]
    assert (answers, redis.calls) == ([None, None, "{ b }", None], ["get apq:a", "get apq:c"])
