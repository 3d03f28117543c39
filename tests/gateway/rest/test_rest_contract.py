"""The REST contract as the OpenAPI document states it: every refusal documented and
shaped like its `Problem` schema, ids that name nothing are 404, integral numbers are
integers, mutations take an Idempotency-Key."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]  # schemathesis brings it, without stubs
import pytest

from gateway.settings import Settings
from tests.gateway.world import World, as_user, gid


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.rate_limit.user = "5/minute"
    return settings


async def _openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    document: dict[str, Any] = (await client.get("/openapi.json")).json()
    return document


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


async def test_every_operation_documents_the_edge_refusals(client: httpx.AsyncClient) -> None:
    document = await _openapi(client)
    problem = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    retry_after = {"Retry-After": {"description": RETRY, "schema": {"type": "string"}}}
    for method, path, operation in _operations(document):
        responses = operation["responses"]
        for status in ("400", "401", "406", "429", "503"):
            assert responses[status]["content"] == problem, (method, path, status)
        assert responses["429"]["headers"] == retry_after, (method, path)
        assert responses["503"]["headers"] == retry_after, (method, path)
        headers = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
        mutation = method in ("post", "patch", "put", "delete")
        assert headers == (["Idempotency-Key"] if mutation else []), (method, path)
        if mutation:
            assert responses["409"]["headers"] == retry_after, (method, path)


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        ("image/png", 406),
        ("text/html, application/json;q=0", 406),
        ("application/json", 200),
        ("application/problem+json", 200),
        ("application/graphql-response+json", 200),
        ("application/graphql-response+json;q=0, text/plain", 406),
        ("text/html, */*;q=0.1", 200),
        ("application/*", 200),
    ],
)
async def test_an_accept_that_admits_no_json_is_406(
    client: httpx.AsyncClient, world: World, accept: str, status: int
) -> None:
    answer = await client.get(
        f"/api/v1/items/{gid('Item', world.widget)}",
        headers={**as_user(world.alice), "accept": accept},
    )
    assert answer.status_code == status, answer.text
    if status == 406:
        assert (answer.headers["content-type"], answer.json()["code"]) == (
            PROBLEM,
            "NOT_ACCEPTABLE",
        )


async def test_a_rate_limited_rest_answer_fits_the_documented_problem(
    client: httpx.AsyncClient, world: World
) -> None:
    document = await _openapi(client)
    answers = [await client.get("/api/v1/items", headers=as_user(world.alice)) for _ in range(6)]
    refused = answers[-1]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    # `#/components/...` references resolve against the document's components.
    schema = {**document["components"]["schemas"]["Problem"], "components": document["components"]}
    jsonschema.validate(refused.json(), schema)
    assert refused.json()["instance"] == "/api/v1/items"


async def test_an_id_that_names_nothing_is_404(client: httpx.AsyncClient, world: World) -> None:
    for odd in ("0", "abc", gid("Order", world.alice_order)):
        response = await client.get(f"/api/v1/items/{odd}", headers=as_user(world.staff))
        body = response.json()
        assert (response.status_code, body["code"], body["instance"]) == (
            404,
            "NOT_FOUND",
            f"/api/v1/items/{odd}",
        ), odd
    cancel = await client.post("/api/v1/orders/0/cancel", headers=as_user(world.staff))
    assert (cancel.status_code, cancel.json()["code"]) == (404, "NOT_FOUND")


async def test_an_integral_number_is_an_integer(client: httpx.AsyncClient, world: World) -> None:
    body = {"sku": "INT-1", "name": "Integral", "price": {"amount": "1.00"}, "stock": 33.0}
    created = await client.post("/api/v1/items", json=body, headers=as_user(world.staff))
    assert (created.status_code, created.json()["stock"]) == (201, 33)
    fraction = await client.post(
        "/api/v1/items", json={**body, "sku": "INT-2", "stock": 33.5}, headers=as_user(world.staff)
    )
    assert (fraction.status_code, fraction.json()["problems"]) == (
        422,
        [{"field": "stock", "message": "must be a 32-bit integer"}],
    )


PROBLEM = "application/problem+json"
RETRY = "Seconds to wait before retrying."
