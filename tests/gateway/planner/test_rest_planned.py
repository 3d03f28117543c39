"""The REST fallback's reads go through the read planner and answer as the resolvers do."""

from __future__ import annotations

import pytest

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
