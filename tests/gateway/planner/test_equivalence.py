"""The planner and the resolvers give the same answer: data, errors, extensions, status.

The resolver path is the reference. Every documented example and a generated set of
operations runs through a gateway with the planner on and one with it off (same
database), as an admin, staff, customers and anonymously, and the whole JSON
responses must be equal.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from schema.node import to_global_id
from tests.gateway.planner.conftest import (
    ADMIN,
    CUSTOMER,
    OTHER_CUSTOMER,
    STAFF,
    Gateway,
    Planned,
    break_the_read_model,
)
from tests.gateway.planner.diff import first_difference
from tests.gateway.planner.operations import PRINCIPALS, Operation, operations

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
BENCHMARK = """
query Nested {
  users(first: 20) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id name email orders(first: 10) {
      totalCount
      edges { cursor node { id status createdAt total { amount currency }
        lines { quantity unitPrice { amount currency } item { id name price { amount } } }
      } }
    } } }
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
WHO = {"admin": ADMIN, "staff": STAFF, "customer": CUSTOMER, "other": OTHER_CUSTOMER}


async def _both(
    on: Gateway, off: Gateway, query: str, variables: dict[str, Any], user: int | None
) -> tuple[Any, Any]:
    # The planner falls back to the resolvers on a fault of its own; here a fault fails.
    with capture_logs() as logs:
        planned = await on.ask(query, variables, user)
        # Asked again, a planned operation is answered as a prepared operation.
        again = await on.ask(query, variables, user)
    faults = [entry for entry in logs if entry["log_level"] in ("error", "critical")]
    assert faults == []
    assert (again.status, _in_order(again.body)) == (planned.status, _in_order(planned.body))
    reference = await off.ask(query, variables, user)
    return (planned.status, _in_order(planned.body)), (reference.status, _in_order(reference.body))


def _in_order(body: Any) -> Any:
    """The body with its errors in a fixed order.

    Sibling fields resolve concurrently, so the order of their errors is a race (on
    either path). When an error nulls the whole `data`, so is their number: the
    executor answers once the root is null, and a sibling's error counts only if it
    came first. Then what is compared is which errors (message and code) were seen.
    """
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list):
        return body
    errors: list[Any] = body["errors"]
    if body.get("data") is None:
        seen = {(e.get("message"), e.get("extensions", {}).get("code")) for e in errors}
        return {**body, "errors": sorted(seen, key=repr)}
    return {**body, "errors": sorted(errors, key=lambda e: (repr(e.get("path")), repr(e)))}


@pytest.mark.parametrize("who", [*WHO, "anonymous"])
@pytest.mark.parametrize(("name", "query", "variables"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
async def test_documented_examples_answer_the_same_on_both_paths(
    planner_on: Gateway,
    planner_off: Gateway,
    planned: Planned,
    who: str,
    name: str,
    query: str,
    variables: dict[str, Any],
) -> None:
    got, expected = await _both(planner_on, planner_off, query, variables, WHO.get(who))
    assert got == expected, first_difference(got, expected)


@pytest.mark.parametrize("who", list(WHO))
async def test_documented_examples_are_planned_for_signed_in_callers(
    planner_on: Gateway, planned: Planned, who: str
) -> None:
    for _name, query, variables in EXAMPLES:
        before = planned.count
        answer = await planner_on.ask(query, variables, WHO[who])
        assert answer.status == 200
        assert "errors" not in answer.body
        assert planned.count > before, _name


async def test_the_catalog_is_planned_for_anonymous_callers(
    planner_on: Gateway, planner_off: Gateway, planned: Planned
) -> None:
    got, expected = await _both(planner_on, planner_off, README_CATALOG, {}, None)
    assert got == expected, first_difference(got, expected)
    assert planned.roots == ["items", "items"]  # planned, then prepared


@pytest.mark.parametrize(
    ("query", "user"),
    [
        ("{ orders { totalCount } }", None),  # UNAUTHENTICATED, from the resolver
        ("{ users(first: 101) { totalCount } }", ADMIN),  # BAD_USER_INPUT
        ('{ items(after: "bm9wZQ") { totalCount } }', None),  # not a cursor
        ('{ items(orderBy: {field: NAME}, after: "WzEsMV0") { totalCount } }', None),
        ('{ order(id: "SXRlbTox") { id } }', ADMIN),  # the id of an Item
        ("{ me { orders(first: 500) { totalCount } } }", CUSTOMER),
        ('{ node(id: "SXRlbTox") { id } }', ADMIN),  # node is not planned
        ("mutation { logout }", CUSTOMER),
        ("{ __schema { queryType { name } } }", ADMIN),
        ("{ items { edges { node { nope } } } }", ADMIN),  # validation
    ],
)
async def test_refusals_and_unplanned_operations_are_the_resolvers(
    planner_on: Gateway, planner_off: Gateway, planned: Planned, query: str, user: int | None
) -> None:
    got, expected = await _both(planner_on, planner_off, query, {}, user)
    assert got == expected, first_difference(got, expected)
    assert planned.count == 0


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operation=operations(), user=st.sampled_from(PRINCIPALS))
async def test_generated_operations_answer_the_same_on_both_paths(
    planner_on: Gateway,
    planner_off: Gateway,
    planned: Planned,
    operation: Operation,
    user: int | None,
) -> None:
    before = planned.count
    got, expected = await _both(planner_on, planner_off, operation.query, operation.variables, user)
    # `--hypothesis-show-statistics` reports how many operations the planner answered.
    event("planned" if planned.count > before else "resolver path")
    assert got == expected, f"{operation.query}\n{first_difference(got, expected)}"


async def test_a_planner_fault_is_logged_and_answered_by_the_resolvers(
    planner_on: Gateway, planner_off: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    break_the_read_model(monkeypatch)
    with capture_logs() as logs:
        got = await planner_on.ask(README_MY_ORDERS, {}, CUSTOMER)
    expected = await planner_off.ask(README_MY_ORDERS, {}, CUSTOMER)
    assert (got.status, got.body) == (expected.status, expected.body)
    assert [entry["event"] for entry in logs if entry["log_level"] == "error"] == [
        "read planner failed; answered by the resolvers"
    ]
