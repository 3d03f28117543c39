"""The REST fallback's reads go through the read planner and answer as the resolvers do."""

from __future__ import annotations

import orjson
import pytest

from gateway.rest.endpoint import etag_of
from schema.node import to_global_id
from tests.gateway.planner.gateways import ADMIN, CUSTOMER, Gateway, Planned

READS = [
    ("/api/v1/items?first=5", None),
    ("/api/v1/items?first=3&orderBy=price:desc", CUSTOMER),
    (f"/api/v1/items/{to_global_id('Item', 3)}", None),
    ("/api/v1/orders?first=4", CUSTOMER),
    ("/api/v1/orders?first=4", ADMIN),
    (f"/api/v1/orders/{to_global_id('Order', 5)}", ADMIN),
    ("/api/v1/users/me", CUSTOMER),
]


@pytest.mark.parametrize(("path", "user"), READS)
async def test_rest_reads_are_planned_with_the_resolvers_answer(
    planner_on: Gateway, planner_off: Gateway, planned: Planned, path: str, user: int | None
) -> None:
    headers = {"X-Debug-User": str(user)} if user is not None else {}
    got = await planner_on.client.get(path, headers=headers)
    assert planned.count == 1, "the read planner did not answer"
    expected = await planner_off.client.get(path, headers=headers)
    assert got.status_code == expected.status_code == 200
    assert got.json() == expected.json()
    for header in ("etag", "link", "content-type"):
        assert got.headers.get(header) == expected.headers.get(header)


async def test_a_rest_refusal_is_the_resolvers(
    planner_on: Gateway, planner_off: Gateway, planned: Planned
) -> None:
    path = "/api/v1/orders"
    got = await planner_on.client.get(path)  # anonymous: orders need a signed-in caller
    expected = await planner_off.client.get(path)
    problem, reference = got.json(), expected.json()
    assert problem.pop("requestId") != reference.pop("requestId")
    assert (got.status_code, problem) == (expected.status_code, reference)
    assert got.status_code == 401
    assert planned.count == 0


BY_ID = [
    # Every character class JSON escapes, non-ASCII, quotes and backslashes.
    (f"/api/v1/items/{to_global_id('Item', 2)}", None),
    (f"/api/v1/items/{to_global_id('Item', 3)}", CUSTOMER),
    (f"/api/v1/items/{to_global_id('Item', 4)}", None),
    (f"/api/v1/orders/{to_global_id('Order', 5)}", ADMIN),
    ("/api/v1/users/me", CUSTOMER),
    ("/api/v1/users/me", None),  # `null`, an answer
]


@pytest.mark.parametrize(("path", "user"), BY_ID)
async def test_a_rest_read_sends_the_planned_json_as_decoding_and_encoding_it_wrote_it(
    planner_on: Gateway, planner_off: Gateway, planned: Planned, path: str, user: int | None
) -> None:
    # The body is the planner's JSON text as is; it must be the bytes (and so the ETag)
    # that decoding it and encoding it with orjson again wrote, and the resolvers' answer.
    headers = {"X-Debug-User": str(user)} if user is not None else {}
    first = await planner_on.client.get(path, headers=headers)  # planned by Strawberry
    again = await planner_on.client.get(path, headers=headers)  # the prepared replay
    expected = await planner_off.client.get(path, headers=headers)
    assert planned.count >= 1  # the replay of an anonymous `me` is a constant: no fetch
    for got in (first, again):
        assert (got.status_code, got.content) == (200, expected.content)
        assert got.content == orjson.dumps(orjson.loads(got.content))
        assert got.headers["etag"] == expected.headers["etag"] == etag_of(got.content)


async def test_a_rest_read_of_nothing_is_a_404_from_the_plan_and_its_replay(
    planner_on: Gateway, planner_off: Gateway, planned: Planned
) -> None:
    path = f"/api/v1/items/{to_global_id('Item', 99_999)}"
    answers = [await planner_on.client.get(path) for _ in range(2)]
    expected = await planner_off.client.get(path)
    reference = expected.json()
    reference.pop("requestId")
    for got in answers:
        problem = got.json()
        problem.pop("requestId")
        assert (got.status_code, problem) == (404, reference)
    assert expected.status_code == 404
    assert planned.count == 2
