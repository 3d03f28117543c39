"""Role-based access control: roles are named sets of `resource:action` permissions.

A role may include other roles; its effective permissions are its own plus those of
every role it includes, transitively. `resource:*` grants every action on a resource.
Ownership ("a customer's own orders") is not a permission: it is a domain
specification, so the `*_own` actions below only say the caller may try.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from domain.errors import FieldProblem, ValidationError
from domain.users import Role

WILDCARD = "*"
_NAME = r"[a-z][a-z0-9_]*"
_PERMISSION = re.compile(rf"^{_NAME}:(?:{_NAME}|\*)$")
_ROLE = re.compile(rf"^{_NAME}$")


def parse_permission(permission: str) -> tuple[str, str]:
    """Split `resource:action`; raises ValidationError when malformed."""
    if not _PERMISSION.match(permission):
        raise ValidationError.single(
            "permissions", f"{permission!r} is not a permission of the form resource:action"
        )
    resource, _, action = permission.partition(":")
    return resource, action


def grants(permissions: Iterable[str], required: str) -> bool:
    """Whether a set of (possibly wildcard) permissions covers `required`."""
    resource, _ = parse_permission(required)
    held = permissions if isinstance(permissions, (set, frozenset)) else set(permissions)
    return required in held or f"{resource}:{WILDCARD}" in held


@dataclass(frozen=True, slots=True)
class RoleDefinition:
    """A role: its own permissions and the roles it includes."""

    name: str
    permissions: frozenset[str] = frozenset()
    includes: frozenset[str] = field(default_factory=frozenset)


class RoleCycleError(ValidationError):
    def __init__(self, cycle: tuple[str, ...]) -> None:
        super().__init__(
            FieldProblem("roles", f"roles include each other in a cycle: {' -> '.join(cycle)}")
        )
        self.cycle = cycle


class UnknownRoleError(ValidationError):
    def __init__(self, names: Iterable[str]) -> None:
        self.names = tuple(sorted(set(names)))
        super().__init__([FieldProblem("roles", f"unknown role {name!r}") for name in self.names])


class RoleRegistry:
    """Resolves roles to their effective permission sets; raises on cycles and unknown roles."""

    def __init__(self, definitions: Iterable[RoleDefinition]) -> None:
        defined: dict[str, RoleDefinition] = {}
        problems: list[FieldProblem] = []
        for definition in definitions:
            if not _ROLE.match(definition.name):
                problems.append(FieldProblem("roles", f"{definition.name!r} is not a role name"))
            if definition.name in defined:
                problems.append(FieldProblem("roles", f"role {definition.name!r} defined twice"))
            defined[definition.name] = definition
            for permission in sorted(definition.permissions):
                try:
                    parse_permission(permission)
                except ValidationError as error:
                    problems.extend(error.problems)
        if problems:
            raise ValidationError(problems)
        unknown = {inc for d in defined.values() for inc in d.includes if inc not in defined}
        if unknown:
            raise UnknownRoleError(unknown)
        self._definitions = defined
        self._effective = _closure(defined)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._definitions)

    def definition(self, role: str) -> RoleDefinition:
        """The definition of `role`; raises UnknownRoleError."""
        if role not in self._definitions:
            raise UnknownRoleError([role])
        return self._definitions[role]

    def resolve(self, role: str) -> frozenset[str]:
        """Effective permissions of one role; raises UnknownRoleError."""
        if role not in self._effective:
            raise UnknownRoleError([role])
        return self._effective[role]

    def permissions_for(self, roles: Iterable[str]) -> frozenset[str]:
        """Union of the effective permissions of `roles`; raises UnknownRoleError naming all."""
        names = list(roles)
        unknown = [name for name in names if name not in self._effective]
        if unknown:
            raise UnknownRoleError(unknown)
        return frozenset().union(*(self._effective[name] for name in names))

    def allows(self, roles: Iterable[str], permission: str) -> bool:
        """Whether any of `roles` grants `permission` (wildcards included)."""
        return grants(self.permissions_for(roles), permission)


def _closure(defined: Mapping[str, RoleDefinition]) -> dict[str, frozenset[str]]:
    effective: dict[str, frozenset[str]] = {}
    visiting: list[str] = []

    def visit(name: str) -> frozenset[str]:
        if name in effective:
            return effective[name]
        if name in visiting:
            raise RoleCycleError((*visiting[visiting.index(name) :], name))
        visiting.append(name)
        definition = defined[name]
        result = frozenset(definition.permissions).union(
            *(visit(included) for included in sorted(definition.includes))
        )
        visiting.pop()
        effective[name] = result
        return result

    for name in sorted(defined):
        visit(name)
    return effective


CUSTOMER = RoleDefinition(
    Role.CUSTOMER.value,
    permissions=frozenset(
        {
            "items:read",
            "orders:create",
            "orders:read_own",
            "orders:cancel_own",
            "profile:read",
            "profile:update",
        }
    ),
)
STAFF = RoleDefinition(
    Role.STAFF.value,
    permissions=frozenset(
        {
            "items:read_inactive",
            "items:write",
            "orders:read",
            "orders:update",
            "orders:cancel",
            "orders:subscribe",
            "users:read",
        }
    ),
    includes=frozenset({Role.CUSTOMER.value}),
)
ADMIN = RoleDefinition(
    Role.ADMIN.value,
    permissions=frozenset({"users:write", "roles:assign", "audit:read"}),
    includes=frozenset({Role.STAFF.value}),
)


@functools.cache
def default_registry() -> RoleRegistry:
    """customer < staff < admin, matching `domain.users.Role`.

    One shared instance: a registry never changes once built, and building one leaves a
    reference cycle (the recursive closure of `_closure`) for the collector to find.
    """
    return RoleRegistry([CUSTOMER, STAFF, ADMIN])
