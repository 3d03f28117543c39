"""Trusted documents as the usual generators write them, asked for by hash or `documentId`.

The manifests are tests/clients' fixtures: Apollo's `generate-persisted-query-manifest`
output and GraphQL Codegen client-preset's `persisted-documents.json`, checked against
the generators themselves by tests/clients/test_persisted_manifests.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from gateway.app import create_app
from gateway.container import Container, build_container
from gateway.graphql.persisted_queries import document_hash, load_manifest
from gateway.settings import Settings
from tests.gateway.world import World, as_user

FIXTURES = Path(__file__).resolve().parents[2] / "clients"
APOLLO = FIXTURES / "persisted-query-manifest.json"
CLIENT_PRESET = FIXTURES / "persisted-documents.json"
CATALOG = {"items": {"totalCount": 3, "edges": [{"node": {"name": "Widget", "sku": "WIDGET-1"}}]}}


def apollo_body(name: str) -> str:
    manifest = orjson.loads(APOLLO.read_bytes())
    return str(next(op["body"] for op in manifest["operations"] if op["name"] == name))


def preset_document(name: str) -> tuple[str, str]:
    manifest: dict[str, str] = orjson.loads(CLIENT_PRESET.read_bytes())
    return next((key, doc) for key, doc in manifest.items() if f"query {name}" in doc)


@pytest.mark.parametrize("path", [APOLLO, CLIENT_PRESET], ids=["apollo", "client-preset"])
def test_each_generators_manifest_loads_as_hash_to_document(path: Path) -> None:
    manifest = load_manifest(path)
    assert len(manifest) == 3
    assert all(document_hash(document) == key for key, document in manifest.items())


def test_a_tampered_apollo_manifest_is_refused_naming_the_entry(tmp_path: Path) -> None:
    manifest = orjson.loads(APOLLO.read_bytes())
    manifest["operations"][0]["body"] += " "
    path = tmp_path / "tampered.json"
    path.write_bytes(orjson.dumps(manifest))
    with pytest.raises(ValueError, match="is not the sha256") as refused:
        load_manifest(path)
    assert str(refused.value) == (
        f"{path}: the entry {manifest['operations'][0]['id']!r} is not the sha256 of its document"
    )


async def client_for(settings: Settings, manifest: Path | None) -> AsyncIterator[httpx.AsyncClient]:
    graphql = settings.graphql.model_copy(update={"trusted_documents": manifest})
    built = build_container(settings.model_copy(update={"graphql": graphql}))
    transport = httpx.ASGITransport(app=create_app(built.settings, built))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            yield http
    finally:
        await built.aclose()


@pytest.fixture
async def apollo_client(
    settings: Settings, container: Container
) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(settings, APOLLO):
        yield client


@pytest.fixture
async def preset_client(
    settings: Settings, container: Container
) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(settings, CLIENT_PRESET):
        yield client


async def test_apollos_manifest_runs_its_operations_by_hash(
    apollo_client: httpx.AsyncClient, world: World
) -> None:
    body = apollo_body("Me")
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": document_hash(body)}}
    response = await apollo_client.post(
        "/graphql",
        json={"operationName": "Me", "extensions": persisted},
        headers=as_user(world.alice),
    )
    assert (response.status_code, response.json()["data"]) == (
        200,
        {"me": {"name": "Alice", "__typename": "User"}},
    )


async def test_the_client_presets_documents_run_by_document_id(
    preset_client: httpx.AsyncClient, world: World
) -> None:
    key, _ = preset_document("Catalog")
    variables = {"first": 1}
    posted = await preset_client.post("/graphql", json={"documentId": key, "variables": variables})
    fetched = await preset_client.get(
        "/graphql", params={"documentId": key, "variables": orjson.dumps(variables).decode()}
    )
    assert [(r.status_code, r.json()["data"]) for r in (posted, fetched)] == [
        (200, CATALOG),
        (200, CATALOG),
    ]


async def test_a_document_id_not_in_the_manifest_is_refused(
    preset_client: httpx.AsyncClient, world: World
) -> None:
    unknown = "sha256:" + document_hash("{ __typename }")
    response = await preset_client.post("/graphql", json={"documentId": unknown})
    assert response.json() == {
        "errors": [
            {
                "message": "the document is not in the trusted list",
                "extensions": {"code": "PERSISTED_QUERY_NOT_ALLOWED"},
            }
        ]
    }


async def test_document_id_and_query_together_are_a_bad_request(
    preset_client: httpx.AsyncClient, world: World
) -> None:
    key, document = preset_document("Me")
    response = await preset_client.post("/graphql", json={"documentId": key, "query": document})
    assert (response.status_code, response.json()) == (
        400,
        {
            "errors": [
                {
                    "message": "send either `query` or `documentId`, not both",
                    "extensions": {"code": "BAD_REQUEST"},
                }
            ]
        },
    )


async def test_a_malformed_document_id_is_a_bad_request(
    preset_client: httpx.AsyncClient, world: World
) -> None:
    response = await preset_client.post("/graphql", json={"documentId": "sha256:nope"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "documentId must be sha256:<64 hex digits>"


async def test_apq_answers_a_document_id_once_registered(
    client: httpx.AsyncClient, world: World
) -> None:
    query = "query Names { items(first: 1) { edges { node { name } } } }"
    key = "sha256:" + document_hash(query)
    unknown = await client.post("/graphql", json={"documentId": key})
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": document_hash(query)}}
    await client.post("/graphql", json={"query": query, "extensions": persisted})
    known = await client.post("/graphql", json={"documentId": key})
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert known.json()["data"] == {"items": {"edges": [{"node": {"name": "Widget"}}]}}
