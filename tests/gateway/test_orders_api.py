"""Orders and catalog through GraphQL: success, refusals and bad input lose nothing."""

from __future__ import annotations

from typing import Any

import httpx

from tests.gateway.world import World, as_user, gid

PLACE = """
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) { status total { amount currency } lines { quantity item { sku } } }
}
"""
STOCK = "query($id: ID!) { item(id: $id) { stock } }"


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    user: int | None = None,
) -> dict[str, Any]:
    headers = as_user(user) if user is not None else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


async def stock_of(client: httpx.AsyncClient, world: World, item: int) -> int:
    body = await gql(client, STOCK, {"id": gid("Item", item)}, user=world.staff)
    stock: int = body["data"]["item"]["stock"]
    return stock


async def order_count(client: httpx.AsyncClient, world: World) -> int:
    body = await gql(client, "{ orders { totalCount } }", user=world.staff)
    count: int = body["data"]["orders"]["totalCount"]
    return count


async def test_a_customer_places_an_order(client: httpx.AsyncClient, world: World) -> None:
    body = await gql(
        client,
        PLACE,
        {"input": {"lines": [{"itemId": gid("Item", world.gadget), "quantity": 3}]}},
        user=world.alice,
    )
    assert body == {
        "data": {
            "placeOrder": {
                "status": "PLACED",
                "total": {"amount": "75.00", "currency": "USD"},
                "lines": [{"quantity": 3, "item": {"sku": "GADGET-1"}}],
            }
        }
    }
    assert await stock_of(client, world, world.gadget) == 6


async def test_anonymous_callers_cannot_place_orders(
    client: httpx.AsyncClient, world: World
) -> None:
    body = await gql(
        client, PLACE, {"input": {"lines": [{"itemId": gid("Item", world.widget), "quantity": 1}]}}
    )
    assert (body["data"], codes(body)) == (None, ["UNAUTHENTICATED"])


async def test_zero_and_negative_quantities_are_refused_and_nothing_is_written(
    client: httpx.AsyncClient, world: World
) -> None:
    before = await order_count(client, world)
    body = await gql(
        client,
        PLACE,
        {
            "input": {
                "lines": [
                    {"itemId": gid("Item", world.widget), "quantity": 0},
                    {"itemId": gid("Item", world.gadget), "quantity": -2},
                ]
            }
        },
        user=world.alice,
    )
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "problems": [
            {"field": "lines.0.quantity", "message": "must be between 1 and 10000"},
            {"field": "lines.1.quantity", "message": "must be between 1 and 10000"},
        ],
    }
    assert await order_count(client, world) == before
    assert await stock_of(client, world, world.widget) == 97


async def test_an_unknown_item_is_not_found_and_no_stock_moves(
    client: httpx.AsyncClient, world: World
) -> None:
    body = await gql(
        client,
        PLACE,
        {
            "input": {
                "lines": [
                    {"itemId": gid("Item", world.widget), "quantity": 1},
                    {"itemId": gid("Item", 999_999), "quantity": 1},
                ]
            }
        },
        user=world.alice,
    )
    assert codes(body) == ["NOT_FOUND"]
    assert await stock_of(client, world, world.widget) == 97


async def test_ordering_more_than_the_stock_is_out_of_stock_and_changes_nothing(
    client: httpx.AsyncClient, world: World
) -> None:
    before = await order_count(client, world)
    body = await gql(
        client,
        PLACE,
        {
            "input": {
                "lines": [
                    {"itemId": gid("Item", world.widget), "quantity": 5},
                    {"itemId": gid("Item", world.last_unit), "quantity": 2},
                ]
            }
        },
        user=world.bob,
    )
    assert codes(body) == ["OUT_OF_STOCK"]
    assert body["errors"][0]["extensions"]["available"] == 1
    assert await stock_of(client, world, world.widget) == 97
    assert await stock_of(client, world, world.last_unit) == 1
    assert await order_count(client, world) == before


async def test_malformed_and_foreign_ids_are_bad_user_input(
    client: httpx.AsyncClient, world: World
) -> None:
    for bad in ("not-an-id", gid("User", world.alice), "T3JkZXI6LTE="):
        body = await gql(
            client, "query($id: ID!) { item(id: $id) { sku } }", {"id": bad}, user=world.alice
        )
        assert codes(body) == ["BAD_USER_INPUT"], bad


async def test_a_forbidden_transition_is_refused(client: httpx.AsyncClient, world: World) -> None:
    mutation = (
        "mutation($id: ID!, $s: OrderStatus!) { updateOrderStatus(id: $id, status: $s) { status } }"
    )
    order = gid("Order", world.alice_order)
    body = await gql(client, mutation, {"id": order, "s": "SHIPPED"}, user=world.staff)
    assert codes(body) == ["INVALID_TRANSITION"]
    assert body["errors"][0]["message"] == "order cannot go from placed to shipped"
    body = await gql(client, mutation, {"id": order, "s": "PAID"}, user=world.staff)
    assert body == {"data": {"updateOrderStatus": {"status": "PAID"}}}


async def test_customers_cannot_change_status(client: httpx.AsyncClient, world: World) -> None:
    mutation = "mutation($id: ID!) { updateOrderStatus(id: $id, status: PAID) { status } }"
    body = await gql(client, mutation, {"id": gid("Order", world.alice_order)}, user=world.alice)
    assert codes(body) == ["FORBIDDEN"]


async def test_a_customer_sees_only_their_own_orders(
    client: httpx.AsyncClient, world: World
) -> None:
    body = await gql(client, "{ orders { totalCount edges { node { id } } } }", user=world.alice)
    assert body == {
        "data": {
            "orders": {
                "totalCount": 1,
                "edges": [{"node": {"id": gid("Order", world.alice_order)}}],
            }
        }
    }
    other = await gql(
        client,
        "query($id: ID!) { order(id: $id) { id } }",
        {"id": gid("Order", world.bob_order)},
        user=world.alice,
    )
    assert other == {"data": {"order": None}}


async def test_cancelling_releases_stock(client: httpx.AsyncClient, world: World) -> None:
    body = await gql(
        client,
        "mutation($id: ID!) { cancelOrder(id: $id) { status } }",
        {"id": gid("Order", world.alice_order)},
        user=world.alice,
    )
    assert body == {"data": {"cancelOrder": {"status": "CANCELLED"}}}
    assert await stock_of(client, world, world.widget) == 99
    assert await stock_of(client, world, world.gadget) == 10


async def test_staff_manage_the_catalog_and_customers_cannot(
    client: httpx.AsyncClient, world: World
) -> None:
    create = """mutation($input: CreateItemInput!) {
      createItem(input: $input) { sku price { amount } } }"""
    new = {"input": {"sku": "NEW-1", "name": "New", "price": {"amount": "1.50"}, "stock": 3}}
    assert codes(await gql(client, create, new, user=world.alice)) == ["FORBIDDEN"]
    assert await gql(client, create, new, user=world.staff) == {
        "data": {"createItem": {"sku": "NEW-1", "price": {"amount": "1.50"}}}
    }
    assert codes(await gql(client, create, new, user=world.staff)) == ["ALREADY_EXISTS"]
    bad = {"input": {"sku": "bad sku", "name": "", "price": {"amount": "1.234"}, "stock": -1}}
    body = await gql(client, create, bad, user=world.staff)
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_email_is_visible_to_its_owner_and_admins_only(
    client: httpx.AsyncClient, world: World
) -> None:
    query = "query($id: ID!) { user(id: $id) { name email } }"
    variables = {"id": gid("User", world.alice)}
    assert await gql(client, query, variables, user=world.alice) == {
        "data": {"user": {"name": "Alice", "email": "alice@example.com"}}
    }
    assert await gql(client, query, variables, user=world.staff) == {
        "data": {"user": {"name": "Alice", "email": None}}
    }
    assert await gql(client, query, variables, user=world.admin) == {
        "data": {"user": {"name": "Alice", "email": "alice@example.com"}}
    }


async def test_node_resolves_each_type(client: httpx.AsyncClient, world: World) -> None:
    query = "query($id: ID!) { node(id: $id) { __typename id } }"
    for type_name, key in (
        ("Item", world.widget),
        ("Order", world.alice_order),
        ("User", world.alice),
    ):
        body = await gql(client, query, {"id": gid(type_name, key)}, user=world.admin)
        assert body == {"data": {"node": {"__typename": type_name, "id": gid(type_name, key)}}}


async def test_a_page_larger_than_the_maximum_is_refused(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ items(first: 1000) { totalCount } }")
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_pages_follow_cursors(client: httpx.AsyncClient, world: World) -> None:
    query = """query($after: String) {
      items(first: 2, after: $after, orderBy: {field: PRICE, direction: DESC}) {
        edges { node { sku } } pageInfo { hasNextPage endCursor } } }"""
    first = await gql(client, query)
    page = first["data"]["items"]
    assert [e["node"]["sku"] for e in page["edges"]] == ["GADGET-1", "WIDGET-1"]
    assert page["pageInfo"]["hasNextPage"] is True
    second = await gql(client, query, {"after": page["pageInfo"]["endCursor"]})
    assert [e["node"]["sku"] for e in second["data"]["items"]["edges"]] == ["LAST-1"]
    assert second["data"]["items"]["pageInfo"]["hasNextPage"] is False
