from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import rbac
from domain.errors import FieldProblem, ValidationError
from domain.rbac import RoleCycleError, RoleDefinition, RoleRegistry, UnknownRoleError
from domain.users import Role

REGISTRY = rbac.default_registry()

CUSTOMER = frozenset(
    {
        "items:read",
        "orders:create",
        "orders:read_own",
        "orders:cancel_own",
        "profile:read",
        "profile:update",
    }
)
STAFF = CUSTOMER | {
    "items:read_inactive",
    "items:write",
    "orders:read",
    "orders:update",
    "orders:cancel",
    "orders:subscribe",
    "users:read",
}
ADMIN = STAFF | {"users:write", "roles:assign", "audit:read"}


def test_the_default_roles_resolve_transitively() -> None:
    assert REGISTRY.resolve("customer") == CUSTOMER
    assert REGISTRY.resolve("staff") == STAFF
    assert REGISTRY.resolve("admin") == ADMIN


def test_the_default_registry_defines_exactly_the_domain_roles() -> None:
    assert REGISTRY.names == frozenset(role.value for role in Role)


def test_permissions_for_unites_roles_and_accepts_role_enums() -> None:
    assert REGISTRY.permissions_for([Role.CUSTOMER, Role.STAFF]) == STAFF
    assert REGISTRY.permissions_for([]) == frozenset()


def test_allows_answers_per_permission() -> None:
    assert REGISTRY.allows(["customer"], "orders:read_own") is True
    assert REGISTRY.allows(["customer"], "orders:read") is False
    assert REGISTRY.allows(["admin"], "roles:assign") is True
    assert REGISTRY.allows(["staff"], "roles:assign") is False


def test_unknown_roles_are_each_named() -> None:
    with pytest.raises(UnknownRoleError) as caught:
        REGISTRY.permissions_for(["staff", "root", "god"])
    assert caught.value.problems == [
        FieldProblem("roles", "unknown role 'god'"),
        FieldProblem("roles", "unknown role 'root'"),
    ]
    assert isinstance(caught.value, ValidationError)
    with pytest.raises(UnknownRoleError, match="unknown role 'nobody'"):
        REGISTRY.resolve("nobody")


def test_a_resource_wildcard_grants_every_action_of_that_resource_only() -> None:
    registry = RoleRegistry([RoleDefinition("clerk", frozenset({"orders:*"}))])
    assert registry.allows(["clerk"], "orders:delete") is True
    assert registry.allows(["clerk"], "orders:read") is True
    assert registry.allows(["clerk"], "items:read") is False


def test_a_wildcard_is_not_a_required_permission_that_anything_satisfies() -> None:
    assert rbac.grants({"orders:read"}, "orders:*") is False
    assert rbac.grants({"orders:*"}, "orders:*") is True


def test_including_an_undefined_role_is_refused() -> None:
    with pytest.raises(UnknownRoleError, match="unknown role 'ghost'"):
        RoleRegistry([RoleDefinition("a", includes=frozenset({"ghost"}))])


def test_a_cycle_is_refused_with_its_path() -> None:
    with pytest.raises(RoleCycleError) as caught:
        RoleRegistry(
            [
                RoleDefinition("a", includes=frozenset({"b"})),
                RoleDefinition("b", includes=frozenset({"c"})),
                RoleDefinition("c", includes=frozenset({"a"})),
            ]
        )
    assert caught.value.cycle == ("a", "b", "c", "a")
    assert caught.value.problems == [
        FieldProblem("roles", "roles include each other in a cycle: a -> b -> c -> a")
    ]


def test_a_role_including_itself_is_a_cycle() -> None:
    with pytest.raises(RoleCycleError) as caught:
        RoleRegistry([RoleDefinition("a", includes=frozenset({"a"}))])
    assert caught.value.cycle == ("a", "a")


def test_malformed_permissions_and_names_are_all_reported() -> None:
    with pytest.raises(ValidationError) as caught:
        RoleRegistry(
            [
                RoleDefinition("Bad Name", frozenset({"orders"})),
                RoleDefinition("ok", frozenset({"a:b:c", "*:read"})),
                RoleDefinition("ok"),
            ]
        )
    assert caught.value.problems == [
        FieldProblem("roles", "'Bad Name' is not a role name"),
        FieldProblem("permissions", "'orders' is not a permission of the form resource:action"),
        FieldProblem("permissions", "'*:read' is not a permission of the form resource:action"),
        FieldProblem("permissions", "'a:b:c' is not a permission of the form resource:action"),
        FieldProblem("roles", "role 'ok' defined twice"),
    ]


# --- properties over random role graphs -------------------------------------------------

RESOURCES = ["items", "orders", "users"]
ACTIONS = ["read", "write", "*"]
PERMISSIONS = [f"{r}:{a}" for r in RESOURCES for a in ACTIONS]
CONCRETE = [f"{r}:{a}" for r in RESOURCES for a in ACTIONS if a != "*"]
permission_sets = st.frozensets(st.sampled_from(PERMISSIONS), max_size=4)


@st.composite
def acyclic_registries(draw: st.DrawFn) -> list[RoleDefinition]:
    # Role i may include only roles j < i: acyclic by construction.
    count = draw(st.integers(1, 7))
    definitions = []
    for i in range(count):
        includes = (
            draw(st.frozensets(st.sampled_from([f"r{j}" for j in range(i)]))) if i else frozenset()
        )
        definitions.append(RoleDefinition(f"r{i}", draw(permission_sets), includes))
    return definitions


@given(acyclic_registries())
def test_a_role_is_exactly_its_own_permissions_plus_its_parts(
    definitions: list[RoleDefinition],
) -> None:
    registry = RoleRegistry(definitions)
    for definition in definitions:
        parts = [registry.resolve(name) for name in definition.includes]
        assert registry.resolve(definition.name) == definition.permissions.union(*parts)


@given(acyclic_registries(), st.sampled_from(CONCRETE))
def test_a_role_never_grants_what_none_of_its_parts_grant(
    definitions: list[RoleDefinition], permission: str
) -> None:
    registry = RoleRegistry(definitions)
    for definition in definitions:
        if registry.allows([definition.name], permission):
            own = rbac.grants(definition.permissions, permission)
            via = [registry.allows([name], permission) for name in definition.includes]
            assert own or any(via)


@given(permission_sets, permission_sets, permission_sets)
def test_composing_roles_is_associative(
    a: frozenset[str], b: frozenset[str], c: frozenset[str]
) -> None:
    registry = RoleRegistry(
        [
            RoleDefinition("a", a),
            RoleDefinition("b", b),
            RoleDefinition("c", c),
            RoleDefinition("ab", includes=frozenset({"a", "b"})),
            RoleDefinition("bc", includes=frozenset({"b", "c"})),
            RoleDefinition("ab_c", includes=frozenset({"ab", "c"})),
            RoleDefinition("a_bc", includes=frozenset({"a", "bc"})),
        ]
    )
    assert registry.resolve("ab_c") == registry.resolve("a_bc") == a | b | c
    assert registry.permissions_for(["ab", "c"]) == registry.permissions_for(["a", "bc"])
    for permission in CONCRETE:
        assert registry.allows(["ab_c"], permission) == registry.allows(["a_bc"], permission)


@given(acyclic_registries(), st.data())
def test_any_edge_closing_a_loop_is_refused(
    definitions: list[RoleDefinition], data: st.DataObject
) -> None:
    # Add an edge back to a role from itself or from a role it (transitively) includes.
    high = data.draw(st.integers(0, len(definitions) - 1))
    low = data.draw(st.sampled_from(sorted(_reachable(definitions, f"r{high}") | {f"r{high}"})))
    looped = [
        RoleDefinition(d.name, d.permissions, d.includes | {f"r{high}"}) if d.name == low else d
        for d in definitions
    ]
    with pytest.raises(RoleCycleError) as caught:
        RoleRegistry(looped)
    cycle = caught.value.cycle
    assert cycle[0] == cycle[-1]
    by_name = {d.name: d for d in looped}
    assert all(b in by_name[a].includes for a, b in pairwise(cycle))


def _reachable(definitions: list[RoleDefinition], start: str) -> set[str]:
    by_name = {d.name: d for d in definitions}
    seen: set[str] = set()
    todo = list(by_name[start].includes)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(by_name[name].includes)
    return seen
