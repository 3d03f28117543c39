"""The generated REST API on the real gateway: same data and refusals as GraphQL; HTTP rules."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette

from gateway.rest.operation import RestOperation
from tests.gateway.rest.helpers import operations, problem
from tests.gateway.world import World, as_user, gid


async def graphql(
    client: httpx.AsyncClient, op: RestOperation, variables: dict[str, Any], user: int | None
) -> dict[str, Any]:
    headers = as_user(user) if user is not None else {}
    response = await client.post(
        "/graphql", json={"query": op.document, "variables": variables}, headers=headers
    )
    body: dict[str, Any] = response.json()
    return body


async def test_an_item_reads_the_same_over_rest_and_graphql(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    item = gid("Item", world.widget)
    rest = await client.get(f"/api/v1/items/{item}")
    gql = await graphql(client, operations(app)["getItem"], {"id": item}, None)
    assert rest.status_code == 200
    assert rest.headers["content-type"] == "application/json"
    assert rest.json() == gql["data"]["item"]
    assert rest.json()["price"] == {"amount": "9.99", "currency": "USD"}


async def test_each_entity_reads_the_same_for_the_same_principal(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    ops = operations(app)
    cases = [
        ("getOrder", f"/api/v1/orders/{gid('Order', world.alice_order)}", world.alice),
        ("getUser", f"/api/v1/users/{gid('User', world.alice)}", world.alice),
        ("getMe", "/api/v1/users/me", world.bob),
    ]
    for operation_id, url, user in cases:
        rest = await client.get(url, headers=as_user(user))
        variables = {"id": url.rsplit("/", 1)[1]} if "{id}" in ops[operation_id].path else {}
        gql = await graphql(client, ops[operation_id], variables, user)
        assert rest.status_code == 200, rest.text
        assert rest.json() == gql["data"][ops[operation_id].root_field], operation_id


async def test_lists_carry_the_same_nodes_as_the_connection(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    for operation_id, url in (("listItems", "/api/v1/items"), ("listOrders", "/api/v1/orders")):
        op = operations(app)[operation_id]
        rest = await client.get(url + "?first=2&orderBy=id:desc", headers=as_user(world.staff))
        orderings = {"listItems": "ID", "listOrders": "ID"}
        gql = await graphql(
            client,
            op,
            {"first": 2, "orderBy": {"field": orderings[operation_id], "direction": "DESC"}},
            world.staff,
        )
        connection = gql["data"][op.root_field]
        assert rest.status_code == 200
        assert rest.json() == {
            "data": [edge["node"] for edge in connection["edges"]],
            "pageInfo": connection["pageInfo"],
            "totalCount": connection["totalCount"],
        }


async def test_filters_and_orders_map_to_graphql_variables(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.get(
        "/api/v1/items?filter[priceAtLeast][amount]=9&orderBy=price:desc",
        headers=as_user(world.staff),
    )
    assert [item["sku"] for item in response.json()["data"]] == ["GADGET-1", "WIDGET-1"]
    response = await client.get("/api/v1/items?filter[nameContains]=adg")
    assert [item["sku"] for item in response.json()["data"]] == ["GADGET-1"]


async def test_a_customer_is_refused_the_same_things_over_both(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    ops = operations(app)
    bobs = gid("Order", world.bob_order)
    rest = await client.get(f"/api/v1/orders/{bobs}", headers=as_user(world.alice))
    gql = await graphql(client, ops["getOrder"], {"id": bobs}, world.alice)
    assert (rest.status_code, gql["data"]["order"]) == (404, None)
    assert rest.json() == problem(
        rest, "not-found", "Not found", f"Order {bobs} not found", "NOT_FOUND"
    )

    body = {"sku": "NEW-1", "name": "New", "price": {"amount": "1.00"}}
    rest = await client.post("/api/v1/items", json=body, headers=as_user(world.alice))
    gql = await graphql(client, ops["createItem"], {"input": body}, world.alice)
    assert rest.status_code == 403
    assert rest.json()["code"] == gql["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert rest.json() == problem(
        rest, "forbidden", "Forbidden", gql["errors"][0]["message"], "FORBIDDEN"
    )


async def test_anonymous_writes_are_401_with_a_bearer_challenge(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.post(f"/api/v1/orders/{gid('Order', world.alice_order)}/cancel")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "UNAUTHENTICATED"


async def test_create_answers_201_with_the_location_of_the_new_item(
    client: httpx.AsyncClient, world: World
) -> None:
    body = {"sku": "NEW-1", "name": "New", "price": {"amount": "1.50"}, "stock": 3}
    created = await client.post("/api/v1/items", json=body, headers=as_user(world.staff))
    assert created.status_code == 201, created.text
    fetched = await client.get(created.headers["location"], headers=as_user(world.staff))
    assert fetched.json() == created.json()
    assert created.headers["location"] == f"/api/v1/items/{created.json()['id']}"
    assert (created.json()["sku"], created.json()["stock"]) == ("NEW-1", 3)


async def test_every_bad_field_is_listed_in_one_422(
    client: httpx.AsyncClient, world: World
) -> None:
    body = {"sku": 5, "price": {"amount": 1, "currency": "USD"}, "colour": "red"}
    response = await client.post("/api/v1/items", json=body, headers=as_user(world.staff))
    problems = [
        {"field": "colour", "message": "is not a known field"},
        {"field": "sku", "message": "must be a string"},
        {"field": "name", "message": "is required"},
        {"field": "price.amount", "message": "must be a decimal number as a string, like 9.99"},
    ]
    detail = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    assert response.status_code == 422
    assert response.json() == problem(
        response, "bad-user-input", "Invalid input", detail, "BAD_USER_INPUT", problems=problems
    )


async def test_malformed_json_is_400_and_a_wrong_media_type_415(
    client: httpx.AsyncClient, world: World
) -> None:
    staff = as_user(world.staff)
    broken = await client.post(
        "/api/v1/items", content=b"{", headers={**staff, "content-type": "application/json"}
    )
    assert broken.json() == problem(
        broken, "bad-request", "Bad request", "the request body is not valid JSON", "BAD_REQUEST"
    )
    form = await client.post("/api/v1/items", data={"sku": "x"}, headers=staff)
    assert form.json() == problem(
        form,
        "unsupported-media-type",
        "Unsupported media type",
        "send the body as application/json",
        "UNSUPPORTED_MEDIA_TYPE",
    )
    assert (broken.status_code, form.status_code) == (400, 415)


async def test_unknown_query_parameters_are_400_listing_them(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/items?limit=5&first=2&sort=name")
    assert response.status_code == 400
    assert response.json() == problem(
        response,
        "bad-request",
        "Bad request",
        "unknown query parameter(s): limit, sort",
        "BAD_REQUEST",
        problems=[
            {"field": "limit", "message": "is not a known query parameter"},
            {"field": "sort", "message": "is not a known query parameter"},
        ],
    )


async def test_bad_query_values_are_422(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get("/api/v1/items?first=many&orderBy=colour")
    assert response.status_code == 422
    assert [p["field"] for p in response.json()["problems"]] == ["first", "orderBy"]
    too_many = await client.get("/api/v1/items?first=500", headers=as_user(world.staff))
    assert too_many.status_code == 422
    assert too_many.json()["problems"] == [
        {"field": "first", "message": "must be between 0 and 100"}
    ]


async def test_etag_and_if_none_match_answer_304(client: httpx.AsyncClient, world: World) -> None:
    url = f"/api/v1/items/{gid('Item', world.widget)}"
    first = await client.get(url)
    etag = first.headers["etag"]
    assert etag.startswith('"')  # strong: no W/ prefix
    again = await client.get(url, headers={"If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    other = await client.get(url, headers={"If-None-Match": '"other"'})
    assert other.status_code == 200


async def test_patch_is_partial_and_honours_if_match(
    client: httpx.AsyncClient, world: World
) -> None:
    url = f"/api/v1/items/{gid('Item', world.gadget)}"
    staff = as_user(world.staff)
    before = await client.get(url, headers=staff)
    stale = await client.patch(
        url, json={"stock": 7}, headers={**staff, "If-Match": '"not-the-etag"'}
    )
    assert stale.status_code == 412
    assert stale.json()["code"] == "PRECONDITION_FAILED"
    changed = await client.patch(
        url, json={"stock": 7}, headers={**staff, "If-Match": before.headers["etag"]}
    )
    assert changed.status_code == 200
    assert changed.json() == {**before.json(), "stock": 7}


async def test_delete_answers_204_then_the_item_is_gone(
    client: httpx.AsyncClient, world: World
) -> None:
    staff = as_user(world.staff)
    created = await client.post(
        "/api/v1/items",
        json={"sku": "GONE-1", "name": "Gone", "price": {"amount": "2.00"}},
        headers=staff,
    )
    deleted = await client.delete(created.headers["location"], headers=staff)
    assert (deleted.status_code, deleted.content) == (204, b"")
    gone = await client.get(created.headers["location"], headers=staff)
    assert gone.status_code == 404


async def test_a_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/v1/items")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    assert response.json() == problem(
        response,
        "method-not-allowed",
        "Method not allowed",
        "PUT is not allowed here",
        "METHOD_NOT_ALLOWED",
    )


async def test_link_headers_walk_the_pages(client: httpx.AsyncClient, world: World) -> None:
    seen: list[str] = []
    url: str | None = "/api/v1/items?first=1&orderBy=sku"
    while url is not None:
        response = await client.get(url, headers=as_user(world.staff))
        seen += [item["sku"] for item in response.json()["data"]]
        links = response.links
        assert links["first"]["url"] == "http://gateway.test/api/v1/items?first=1&orderBy=sku"
        url = links.get("next", {}).get("url")
    assert seen == ["GADGET-1", "LAST-1", "WIDGET-1"]


async def test_order_actions_cancel_and_change_status(
    client: httpx.AsyncClient, world: World
) -> None:
    order = gid("Order", world.alice_order)
    shipped = await client.patch(
        f"/api/v1/orders/{order}/status", json={"status": "PAID"}, headers=as_user(world.staff)
    )
    assert (shipped.status_code, shipped.json()["status"]) == (200, "PAID")
    other = gid("Order", world.bob_order)
    cancelled = await client.post(f"/api/v1/orders/{other}/cancel", headers=as_user(world.bob))
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "CANCELLED")
    again = await client.post(f"/api/v1/orders/{other}/cancel", headers=as_user(world.bob))
    assert (again.status_code, again.json()["code"]) == (409, "INVALID_TRANSITION")


async def test_placing_an_order_is_a_named_operation(
    client: httpx.AsyncClient, world: World
) -> None:
    body = {"lines": [{"itemId": gid("Item", world.widget), "quantity": 1}]}
    placed = await client.post("/api/v1/orders", json=body, headers=as_user(world.alice))
    assert placed.status_code == 201, placed.text
    assert placed.headers["location"] == f"/api/v1/orders/{placed.json()['id']}"
    assert placed.json()["total"] == {"amount": "9.99", "currency": "USD"}


async def test_the_auth_mutations_are_reachable_over_rest(client: httpx.AsyncClient) -> None:
    credentials = {"email": "new@example.com", "password": "Correct-horse-42"}
    registered = await client.post(
        "/api/v1/auth/register", json={"input": {**credentials, "name": "New"}}
    )
    assert registered.status_code == 422  # the lone input variable is the whole body
    registered = await client.post("/api/v1/auth/register", json={**credentials, "name": "New"})
    assert registered.status_code == 201, registered.text
    user = registered.json()["user"]
    assert registered.headers["location"] == f"/api/v1/users/{user['id']}"
    login = await client.post("/api/v1/auth/login", json=credentials)
    expected = {k: user[k] for k in ("id", "name", "email", "roles")}
    assert (login.status_code, login.json()["user"]) == (200, expected)
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refreshToken": login.json()["refreshToken"]}
    )
    assert refreshed.status_code == 200
    bearer = {"Authorization": f"Bearer {refreshed.json()['accessToken']}"}
    me = await client.get("/api/v1/users/me", headers=bearer)
    assert me.json()["email"] == "new@example.com"
    out = await client.post(
        "/api/v1/auth/logout",
        json={"refreshToken": refreshed.json()["refreshToken"]},
        headers=bearer,
    )
    assert (out.status_code, out.content) == (204, b"")
    after = await client.get("/api/v1/users/me", headers=bearer)
    assert after.status_code == 401


async def test_unknown_api_paths_are_problem_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.json() == problem(
        response, "not-found", "Not found", "no route /api/v1/nothing-here", "NOT_FOUND"
    )


async def test_me_is_null_for_an_anonymous_caller_as_the_openapi_says(
    client: httpx.AsyncClient, world: World
) -> None:
    # `me` names no resource: its null is the answer (an item by id that is missing is a 404).
    anonymous = await client.get("/api/v1/users/me")
    schema = (await client.get("/openapi.json")).json()["paths"]["/api/v1/users/me"]["get"]
    success = schema["responses"]["200"]["content"]["application/json"]["schema"]
    assert (anonymous.status_code, anonymous.json()) == (200, None)
    assert success["type"] == ["object", "null"]
    missing = await client.get(f"/api/v1/items/{gid('Item', 999_999)}")
    assert missing.status_code == 404
