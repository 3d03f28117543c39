"""The N+1 guard on the planner path: one SQL statement per root field, whatever the size."""

from __future__ import annotations

from tests.gateway.planner.conftest import ADMIN, Gateway, Planned
from tests.gateway.planner.test_equivalence import N_PLUS_ONE
from tests.helpers import assert_max_statements

# The acting user's lookup (authentication) and one statement for `users`.
STATEMENTS = 2

TWO_ROOTS = """
query Two($n: Int!) {
  users(first: $n) { edges { node { name orders { edges { node { lines { item { name } } } } } } } }
  orders(first: $n) { totalCount edges { node { customer { name } lines { quantity } } } }
}
"""


async def _statements(gateway: Gateway, query: str, n: int) -> tuple[int, int]:
    with assert_max_statements(gateway.container.engine, STATEMENTS + 1) as log:
        answer = await gateway.ask(query, {"n": n}, ADMIN)
    assert "errors" not in answer.body, answer.body
    users = answer.body["data"]["users"]["edges"]
    assert len(users) == n
    return log.count, sum(len(u["node"]["orders"]["edges"]) for u in users)


async def test_the_nested_query_costs_one_statement_for_5_and_for_50_users(
    planner_on: Gateway, planned: Planned
) -> None:
    small, small_orders = await _statements(planner_on, N_PLUS_ONE, 5)
    large, large_orders = await _statements(planner_on, N_PLUS_ONE, 50)
    assert large_orders > small_orders > 0
    assert (small, large) == (STATEMENTS, STATEMENTS)
    assert planned.roots == ["users", "users"]


async def test_each_root_field_costs_one_statement(planner_on: Gateway, planned: Planned) -> None:
    count, _orders = await _statements(planner_on, TWO_ROOTS, 20)
    assert count == STATEMENTS + 1
    assert planned.roots == ["users", "orders"]
