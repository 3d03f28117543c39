"""Which operations the planner takes, and the plans it makes (no database needed)."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from graphql import parse

from domain import read_plan as plan
from domain.errors import UnauthenticatedError
from domain.paging import Direction, PageRequest, Sort
from domain.principals import Principal
from domain.specifications import Always, field
from domain.users import Role
from schema import build_schema
from schema.entities.declare import declarations
from schema.planner.compile import plan_operation, scope_for
from schema.planner.declared import source_of

ADMIN = Principal(1, frozenset({Role.ADMIN}))
STAFF = Principal(2, frozenset({Role.STAFF}))
CUSTOMER = Principal(4, frozenset({Role.CUSTOMER}))
ANONYMOUS = Principal.anonymous()
# An admin as the application makes one: with the permissions the declarations grant.
ADMIN_GRANTED = Principal(
    1, frozenset({Role.ADMIN}), ADMIN.permissions | frozenset({"users:read_email"})
)


def _source(name: str) -> plan.Source:
    decl = next(d for d in declarations() if d.name == name)
    return source_of(decl)


def _user_source() -> plan.Source:
    return _source("User")


@pytest.fixture(scope="module")
def schema() -> strawberry.Schema:
    return build_schema()


def _plan(
    schema: strawberry.Schema,
    query: str,
    principal: Principal,
    variables: dict[str, Any] | None = None,
) -> plan.Plan | None:
    return plan_operation(schema, parse(query), None, variables, principal)


def test_a_nested_query_becomes_one_plan_with_fragments_aliases_and_directives(
    schema: strawberry.Schema,
) -> None:
    query = """
    query Q($on: Boolean!) {
      people: users(first: 2, filter: {active: true}) {
        edges { node { ...Who hidden: name @skip(if: $on) orders(first: 1) { totalCount } } }
      }
    }
    fragment Who on User { ... on Node { id } email roles }
    """
    found = _plan(schema, query, CUSTOMER, {"on": True})
    orders = plan.Connection(
        _source("Order"),
        Always(),
        PageRequest(1, None, Sort("id", Direction.DESC)),
        (plan.TotalCount("totalCount"),),
    )
    user = _user_source()
    email = plan.Stored("email", user.column("email"))
    node = plan.Selection(
        user,
        (
            plan.GlobalId("id", "User"),
            plan.Owned("id", email),
            plan.Stored("roles", user.column("roles")),
            plan.OneToMany("orders", "customer_id", orders),
        ),
    )
    users = plan.Connection(
        user,
        field("active") == True,  # noqa: E712  # a specification, not a bool
        PageRequest(2, None, Sort("id", Direction.ASC)),
        (plan.Edges("edges", (plan.EdgeNode("node", node),)),),
    )
    assert found == plan.Plan(
        (plan.RootConnection("people", users),),
        frozenset({"User", "Order"}),
    )


def test_an_admin_plan_shows_every_email(schema: strawberry.Schema) -> None:
    found = _plan(schema, "{ me { email } }", ADMIN_GRANTED)
    user = _user_source()
    selection = plan.Selection(user, (plan.Stored("email", user.column("email")),))
    assert found == plan.Plan((plan.RootObject("me", selection, None),), frozenset({"User"}))


def test_a_customer_plan_shows_only_their_own_email(schema: strawberry.Schema) -> None:
    found = _plan(schema, "{ me { email } }", CUSTOMER)
    user = _user_source()
    owned = plan.Owned("id", plan.Stored("email", user.column("email")))
    assert found == plan.Plan(
        (plan.RootObject("me", plan.Selection(user, (owned,)), None),), frozenset({"User"})
    )


def test_anonymous_me_and_user_are_null_without_the_database(schema: strawberry.Schema) -> None:
    found = _plan(schema, '{ __typename me { name } user(id: "VXNlcjox") { name } }', ANONYMOUS)
    assert found == plan.Plan(
        (
            plan.RootConstant("__typename", '"Query"'),
            plan.RootConstant("me", "null"),
            plan.RootConstant("user", "null"),
        ),
        frozenset(),
    )


@pytest.mark.parametrize(
    ("query", "principal"),
    [
        ("mutation { logout }", CUSTOMER),
        ('{ node(id: "SXRlbTox") { id } }', ADMIN),
        ("{ __schema { queryType { name } } }", ADMIN),
        ("{ orders { totalCount } }", ANONYMOUS),  # the rule refuses anonymous callers
        ("{ users { totalCount } }", ANONYMOUS),
        ("{ items(first: 101) { totalCount } }", ADMIN),  # the resolver's page limit
        ("{ items(first: -1) { totalCount } }", ADMIN),
        ('{ items(after: "!!") { totalCount } }', ADMIN),
        ('{ item(id: "VXNlcjox") { name } }', ADMIN),  # the id of a User
        ('{ orders(filter: {customerId: "x"}) { totalCount } }', STAFF),
        ("{ me { orders(first: 500) { totalCount } } }", CUSTOMER),
    ],
)
def test_operations_the_planner_leaves_to_the_resolvers(
    schema: strawberry.Schema, query: str, principal: Principal
) -> None:
    assert _plan(schema, query, principal) is None


def test_bad_variables_are_left_to_the_executor(schema: strawberry.Schema) -> None:
    query = "query Q($n: Int!) { items(first: $n) { totalCount } }"
    assert _plan(schema, query, ADMIN, {"n": "many"}) is None
    assert _plan(schema, query, ADMIN, {}) is None


def test_an_object_the_caller_can_see_none_of_is_null_without_the_database(
    schema: strawberry.Schema,
) -> None:
    # As `user(id)`: an anonymous caller sees no order, so every id reads as null.
    found = _plan(schema, '{ order(id: "T3JkZXI6MQ==") { id } }', ANONYMOUS)
    assert found == plan.Plan((plan.RootConstant("order", "null"),), frozenset())


def test_a_callers_scope_follows_their_id_and_permissions_and_a_refusal_stays_refused() -> None:
    rules = frozenset({"Order", "Item"})
    active = field("active") == True  # noqa: E712  # builds a specification, not a bool
    customer_again = Principal(4, frozenset({Role.CUSTOMER}))
    other_customer = Principal(5, frozenset({Role.CUSTOMER}))
    # Same id and roles, more permissions (another role registry's): not the same rules.
    granted = Principal(4, frozenset({Role.CUSTOMER}), frozenset({"orders:read"}))
    scopes = [scope_for(p, rules) for p in (CUSTOMER, customer_again, other_customer)]
    assert scopes == [
        plan.Scope(4, {"Order": field("customer_id") == 4, "Item": active}),
        plan.Scope(4, {"Order": field("customer_id") == 4, "Item": active}),
        plan.Scope(5, {"Order": field("customer_id") == 5, "Item": active}),
    ]
    assert scope_for(granted, rules) == plan.Scope(4, {"Order": Always(), "Item": active})
    assert scope_for(ADMIN, rules) == plan.Scope(1, {"Order": Always(), "Item": Always()})
    for _ in range(2):
        with pytest.raises(UnauthenticatedError):
            scope_for(ANONYMOUS, frozenset({"Order"}))
