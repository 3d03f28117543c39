"""The operations the planner tests ask (the README's read examples, the N+1 guard's
query, the benchmark's nested query, every root field) and how two gateways' answers
to one are compared."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from bench.planner_ab import NESTED as BENCHMARK  # the planner A/B's query, answered the same
from schema.node import to_global_id
from tests.gateway.planner.gateways import CUSTOMER, Gateway

# README.md's read examples, the N+1 guard's query and the benchmark's nested query.
README_CATALOG = (
    "{ items(first: 2, orderBy: {field: PRICE, direction: ASC}, filter: {inStock: true}) "
    "{ totalCount edges { node { sku name price { amount currency } stock } } "
    "pageInfo { hasNextPage endCursor } } }"
)
README_MY_ORDERS = (
    "{ me { name orders(first: 2) { totalCount edges { node { status total { amount } "
    "lines { quantity item { name } } } } } } }"
)
N_PLUS_ONE = """
query Nested($n: Int!) {
  users(first: $n) {
    edges { node { name orders(first: 10) { edges { node {
      lines { quantity item { name price { amount } } }
    } } } } }
  }
}
"""
ALL_ROOTS = f"""
fragment Money on Money {{ amount currency __typename }}
query Everything {{
  __typename
  me {{ id name email roles active createdAt }}
  user(id: "{to_global_id("User", CUSTOMER)}") {{ name email }}
  item(id: "{to_global_id("Item", 3)}") {{ name sku price {{ ...Money }} }}
  order(id: "{to_global_id("Order", 5)}") {{ id status total {{ ...Money }} updatedAt
    customer {{ name }} lines {{ subtotal {{ ...Money }} item {{ active }} }} }}
  byName: items(first: 7, orderBy: {{field: NAME, direction: DESC}}) {{
    edges {{ cursor node {{ name }} }} pageInfo {{ startCursor endCursor hasPreviousPage }} }}
  bySku: items(first: 4, orderBy: {{field: SKU}}) {{ edges {{ cursor }} }}
  orders(first: 6, orderBy: {{field: CREATED_AT}}) {{
    edges {{ cursor node {{ ... on Node {{ id }} createdAt }} }} }}
  users(first: 9, orderBy: {{field: NAME}}) {{ edges {{ cursor node {{ name }} }} }}
}}
"""

EXAMPLES: list[tuple[str, str, dict[str, Any]]] = [
    ("readme catalog", README_CATALOG, {}),
    ("readme my orders", README_MY_ORDERS, {}),
    ("n+1 guard", N_PLUS_ONE, {"n": 5}),
    ("benchmark nested", BENCHMARK, {}),
    ("every root", ALL_ROOTS, {}),
]


async def both(
    on: Gateway, off: Gateway, query: str, variables: dict[str, Any], user: int | None
) -> tuple[Any, Any]:
    # The planner falls back to the resolvers on a fault of its own; here a fault fails.
    with capture_logs() as logs:
        planned = await on.ask(query, variables, user)
        # Asked again, a planned operation is answered as a prepared operation.
        again = await on.ask(query, variables, user)
    faults = [entry for entry in logs if entry["log_level"] in ("error", "critical")]
    assert faults == []
    assert (again.status, in_order(again.body)) == (planned.status, in_order(planned.body))
    reference = await off.ask(query, variables, user)
    return (planned.status, in_order(planned.body)), (reference.status, in_order(reference.body))


def in_order(body: Any) -> Any:
    """The body with its errors in a fixed order.

    Sibling fields resolve concurrently, so the order of their errors is a race (on
    either path). When an error nulls the whole `data`, so is which errors are reported
    at all: the executor answers once the root is null, and a sibling's error counts
    only if it came first. Two siblings refused for different reasons (one a cursor,
    one a filter, each under its own root field, each raised after its parent's read)
    then answer with either message, on one gateway from one ask to the next. What is
    compared then is the kinds of refusal (the error codes) seen.
    """
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list):
        return body
    errors: list[Any] = body["errors"]
    if body.get("data") is None:
        codes = {e.get("extensions", {}).get("code") for e in errors}
        return {**body, "errors": sorted(codes, key=repr)}
    return {**body, "errors": sorted(errors, key=lambda e: (repr(e.get("path")), repr(e)))}
