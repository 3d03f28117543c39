"""The scenarios: what each sends, to which server, as whom."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import orjson

from bench.load import Request

type Target = Literal["bare", "gateway", "postgraphile"]

TRIVIAL = "{ __typename }"
# An object by id with four fields.
BY_ID = "query Item($id: ID!) { item(id: $id) { id sku name stock } }"
# Issue 7's nested query in our connection shape: 20 users, their orders, lines, items.
NESTED = (
    "{ users(first: 20) { edges { node { orders(first: 10) { edges { node { "
    "lines { quantity item { name price { amount } } } } } } } } } }"
)
# The second shape: the latest 50 orders, each with its customer, lines and their items.
NESTED_ORDERS = (
    "{ orders(first: 50, orderBy: {field: CREATED_AT, direction: DESC}) { edges { node { "
    "id status createdAt customer { name email } "
    "lines { quantity item { name price { amount } } } } } } }"
)
PLACE_ORDER = (
    "mutation Place($input: PlaceOrderInput!) { placeOrder(input: $input) { id status "
    "total { amount } } }"
)
# The bare app reading one row (bench.bare): the floor of the read-by-id rows.
BARE_READ = "bare_read"
JSON_HEADERS = {"content-type": "application/json", "accept": "application/json"}


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    target: Target
    request: Request
    # A bounded number of requests (writes), instead of as many as fit in the duration.
    bounded: bool = False
    # Measured only on a restarted gateway (a variant), not in the main pass.
    variant_only: bool = False
    # Connections, when not the configured number (overload uses more).
    connections: int | None = None
    # The PostGraphile row answering the same query.
    rival: str | None = None
    note: str = ""


def global_id(type_name: str, key: int) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


def persisted(query: str) -> dict[str, Any]:
    digest = hashlib.sha256(query.encode()).hexdigest()
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


def _lines(first: int) -> list[dict[str, Any]]:
    return [{"itemId": global_id("Item", first + n), "quantity": 1} for n in range(3)]


def graphql(body: dict[str, Any], token: str | None = None) -> Request:
    headers = dict(JSON_HEADERS)
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return Request("POST", "/graphql", headers, orjson.dumps(body))


def persisted_get(body: dict[str, Any], token: str | None = None) -> Request:
    """A persisted query as clients send a hashed one (Apollo's `useGETForHashedQueries`,
    what a CDN can cache): a GET with the hash, and any variables, as JSON in the query
    string."""
    headers = {"accept": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return Request("GET", _get_path(body), headers)


def _get_path(body: dict[str, Any]) -> str:
    return "/graphql?" + urlencode({name: orjson.dumps(v).decode() for name, v in body.items()})


def _body_of(request: Request) -> dict[str, Any]:
    """The GraphQL request `request` sends (its first, if it sends several)."""
    if request.method == "GET":
        query = urlsplit(request.paths[0] if request.paths else request.path).query
        return {name: orjson.loads(values[0]) for name, values in parse_qs(query).items()}
    return dict(orjson.loads(request.body))


def each_item(request: Request, items: list[dict[str, Any]]) -> Request:
    """`request` sent with each item's id in turn as its `id` variable."""
    body = _body_of(request)
    if request.method == "GET":
        return replace(request, paths=tuple(_get_path({**body, "variables": one}) for one in items))
    return replace(
        request,
        alternatives=tuple(orjson.dumps({**body, "variables": one}) for one in items),
    )


def build_scenarios(ids: dict[str, Any], connections: int) -> list[Scenario]:
    """Every scenario, in report order.

    `ids` holds the seeded item's id and access tokens of the admin and a customer
    (signed in through `login`, as clients do: a bearer token costs no SQL). Every
    gateway scenario is sent with one of them, as production's callers do, except the
    `_anonymous` ones (the configuration without limits, a secondary row).
    """
    item = {"id": global_id("Item", int(ids["item"]))}
    # Reads by id take every item in turn (`ids["items"]`), as clients read many rows.
    item_ids = [int(row) for row in ids.get("items") or [ids["item"]]]
    items = [{"id": global_id("Item", row)} for row in item_ids]
    bearer = {"authorization": f"Bearer {ids['customer_token']}"}
    admin, customer = str(ids["admin_token"]), str(ids["customer_token"])
    first_item = int(ids["item"])
    # Each order takes other items (rotating over 150), so orders do not queue on row locks.
    orders = [
        graphql(
            {
                "query": PLACE_ORDER,
                "variables": {"input": {"lines": _lines(first_item + 3 * k)}},
            },
            customer,
        ).body
        for k in range(50)
    ]
    return [
        Scenario(
            "bare",
            "bare Starlette JSON route",
            "bare",
            Request("GET", "/json", {"accept": "application/json"}),
        ),
        Scenario(
            BARE_READ,
            "bare Starlette route + one asyncpg read by id a request",
            "bare",
            replace(
                Request("GET", f"/item/{first_item}", {"accept": "application/json"}),
                paths=tuple(f"/item/{row}" for row in item_ids),
            ),
            note="no GraphQL, auth, limits or logging: the floor of one statement a request",
        ),
        Scenario(
            "trivial",
            "trivial query { __typename }",
            "gateway",
            graphql({"query": TRIVIAL}, customer),
        ),
        Scenario(
            "apq_trivial",
            "persisted query (APQ GET, hash only), trivial",
            "gateway",
            persisted_get({"extensions": persisted(TRIVIAL)}, customer),
            note="registered once before the run",
        ),
        Scenario(
            "apq_trivial_anonymous",
            "persisted query (APQ GET, hash only), trivial, anonymous",
            "gateway",
            persisted_get({"extensions": persisted(TRIVIAL)}),
            variant_only=True,
            note="registered once before the run",
        ),
        Scenario(
            "by_id",
            "item(id) with four fields",
            "gateway",
            each_item(graphql({"query": BY_ID, "variables": item}, customer), items),
        ),
        Scenario(
            "by_id_anonymous",
            "item(id) with four fields, anonymous",
            "gateway",
            each_item(graphql({"query": BY_ID, "variables": item}), items),
            variant_only=True,
        ),
        Scenario(
            "apq_by_id",
            "persisted query (APQ GET, hash only), item(id)",
            "gateway",
            each_item(
                persisted_get({"extensions": persisted(BY_ID), "variables": item}, customer),
                items,
            ),
            note="registered once before the run",
        ),
        Scenario(
            "rest_by_id",
            "REST GET /api/v1/items/{id}",
            "gateway",
            Request(
                "GET",
                f"/api/v1/items/{quote(item['id'], safe='')}",
                {"accept": "application/json", **bearer},
                paths=tuple(f"/api/v1/items/{quote(one['id'], safe='')}" for one in items),
            ),
        ),
        Scenario(
            "nested",
            "nested query, 20 users > orders > lines > items, as admin",
            "gateway",
            graphql({"query": NESTED}, admin),
            rival="postgraphile",
        ),
        Scenario(
            "nested_orders",
            "nested query, latest 50 orders > customer, lines > item, as admin",
            "gateway",
            graphql({"query": NESTED_ORDERS}, admin),
            rival="postgraphile_orders",
        ),
        Scenario(
            "nested_resolvers",
            "nested query via resolvers + dataloaders (planner off)",
            "gateway",
            graphql({"query": NESTED}, admin),
            variant_only=True,
            rival="postgraphile",
            # At 32 connections no request finishes within wrk's 10 s timeout here.
            connections=8,
            note="8 connections",
        ),
        Scenario(
            "mutation",
            "mutation placeOrder (3 lines), as a customer",
            "gateway",
            replace(graphql({}, customer), body=orders[0], alternatives=tuple(orders)),
            bounded=True,
            note="bounded request count",
        ),
        Scenario(
            "rest",
            "REST fallback GET /api/v1/items?first=20",
            "gateway",
            Request("GET", "/api/v1/items?first=20", {"accept": "application/json", **bearer}),
        ),
        Scenario(
            "overload",
            f"overload: nested query at {connections * 4} connections",
            "gateway",
            graphql({"query": NESTED}, admin),
            connections=connections * 4,
            note="503s are load shedding",
        ),
    ]


def registration(scenario: Scenario) -> Request | None:
    """For an APQ scenario, the request that registers its document (hash + query)."""
    if not scenario.name.startswith("apq_"):
        return None
    body = _body_of(scenario.request)
    query = TRIVIAL if scenario.name.startswith("apq_trivial") else BY_ID
    return graphql({**body, "query": query})
