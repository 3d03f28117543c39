"""GraphQL over HTTP: media types, status codes and error codes, per the spec."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette

from gateway.http import negotiation
from tests.gateway.world import World, as_user

GRAPHQL_RESPONSE = "application/graphql-response+json"
ITEMS = "{ items(first: 2) { edges { node { sku name price { amount currency } } } } }"


async def test_a_query_over_post_returns_its_data(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post("/graphql", json={"query": ITEMS})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == {
        "data": {
            "items": {
                "edges": [
                    {
                        "node": {
                            "sku": "WIDGET-1",
                            "name": "Widget",
                            "price": {"amount": "9.99", "currency": "USD"},
                        }
                    },
                    {
                        "node": {
                            "sku": "GADGET-1",
                            "name": "Gadget",
                            "price": {"amount": "25.00", "currency": "USD"},
                        }
                    },
                ]
            }
        }
    }


async def test_a_query_over_get_returns_its_data(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(
        "/graphql",
        params={"query": "{ items(first: 1) { totalCount } }"},
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    assert response.json() == {"data": {"items": {"totalCount": 3}}}


async def test_a_mutation_over_get_is_refused_with_405(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql", params={"query": 'mutation { cancelOrder(id: "T3JkZXI6MQ==") { id } }'}
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json() == {
        "errors": [
            {
                "message": "mutations are only accepted over POST",
                "extensions": {"code": "METHOD_NOT_ALLOWED"},
            }
        ]
    }


@pytest.mark.parametrize(("accept", "status"), [("application/json", 200), (GRAPHQL_RESPONSE, 400)])
async def test_a_parse_error_has_its_code_and_the_status_of_the_media_type(
    client: httpx.AsyncClient, accept: str, status: int
) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ items {"}, headers={"accept": accept}
    )
    assert response.status_code == status
    body = response.json()
    assert "data" not in body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_PARSE_FAILED"]


@pytest.mark.parametrize(("accept", "status"), [("application/json", 200), (GRAPHQL_RESPONSE, 400)])
async def test_an_unknown_field_is_a_validation_error(
    client: httpx.AsyncClient, accept: str, status: int
) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ items { nope } }"}, headers={"accept": accept}
    )
    assert response.status_code == status
    body = response.json()
    assert "data" not in body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]


async def test_a_variable_of_the_wrong_type_is_bad_user_input(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={
            "query": "query($n: Int) { items(first: $n) { totalCount } }",
            "variables": {"n": "ten"},
        },
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 400
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["BAD_USER_INPUT"]


async def test_a_body_that_is_not_json_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {"message": "the request body is not valid JSON", "extensions": {"code": "BAD_REQUEST"}}
        ]
    }


async def test_an_unsupported_content_type_is_a_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", content=b"{ items { totalCount } }", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_an_unacceptable_accept_header_is_a_406(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": ITEMS}, headers={"accept": "application/xml"}
    )
    assert response.status_code == 406


async def test_a_request_without_a_document_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"variables": {}})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_a_batch_runs_each_operation(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        "/graphql",
        json=[{"query": "{ items { totalCount } }"}, {"query": "{ me { name } }"}],
        headers=as_user(world.alice),
    )
    assert response.status_code == 200
    assert response.json() == [
        {"data": {"items": {"totalCount": 3}}},
        {"data": {"me": {"name": "Alice"}}},
    ]


async def test_a_batch_over_the_limit_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json=[{"query": "{ me { name } }"}] * 11)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BATCH_TOO_LARGE"


async def test_the_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ me { name } }"}, headers={"x-request-id": "req-12345678"}
    )
    assert response.headers["x-request-id"] == "req-12345678"


async def test_graphiql_is_served_to_browsers_without_external_urls(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "http://" not in response.text
    assert "https://" not in response.text
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_health_live_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_health_ready_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert (response.status_code, response.json()) == (
        200,
        {"status": "ready", "checks": {"database": "ok"}},
    )


async def test_other_methods_are_refused_with_405_and_allow(client: httpx.AsyncClient) -> None:
    response = await client.put("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json()["errors"][0]["extensions"] == {"code": "METHOD_NOT_ALLOWED"}


async def test_head_is_get_without_a_body(client: httpx.AsyncClient) -> None:
    response = await client.head("/graphql", params={"query": "{ __typename }"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"


async def test_a_body_sent_in_chunks_is_read_whole(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b'{"query": "{ __ty', b"pename }", b'"}'):
            yield part

    response = await client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert (response.status_code, response.json()) == (200, {"data": {"__typename": "Query"}})


async def test_a_request_under_a_root_path_is_routed_as_usual(app: Starlette) -> None:
    # The shortcut past the router only takes the exact path; a proxy prefix goes around.
    transport = httpx.ASGITransport(app=app, root_path="/api")
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        response = await http.post("/api/graphql", json={"query": "{ __typename }"})
    assert (response.status_code, response.json()) == (200, {"data": {"__typename": "Query"}})


accept_parts = st.sampled_from(
    ["application/json", GRAPHQL_RESPONSE, "*/*", "text/html", "application/*", "image/png"]
)
accept_values = st.lists(
    st.tuples(accept_parts, st.sampled_from(["", ";q=0", ";q=0.5", ";q=1", ";q=x"])),
    min_size=1,
    max_size=3,
).map(lambda parts: ", ".join(media + quality for media, quality in parts))


def _choice(accept: str) -> str:
    try:
        return negotiation.negotiate(accept)
    except negotiation.RequestError as error:
        return f"{error.status}"


@given(accept_values)
def test_a_remembered_accept_value_is_answered_as_when_first_parsed(accept: str) -> None:
    negotiation._NEGOTIATED.clear()
    first = _choice(accept)
    assert _choice(accept) == first
    negotiation._NEGOTIATED.clear()
    assert _choice(accept) == first
