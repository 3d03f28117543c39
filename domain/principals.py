"""Who is acting: the authenticated caller as the domain sees it."""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.errors import ForbiddenError, UnauthenticatedError
from domain.rbac import RoleRegistry, default_registry, grants
from domain.users import Role

_DEFAULT_REGISTRY = default_registry()
ALL_PERMISSIONS = frozenset({"*:*"})


def _known(roles: frozenset[Role], registry: RoleRegistry) -> list[str]:
    return [role.value for role in roles if role.value in registry.names]


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a service; `user_id` is None for anonymous callers.

    `permissions` default to what the roles grant in the default role registry; the
    composition root passes its own registry through `Principal.of`.
    """

    user_id: int | None
    roles: frozenset[Role] = frozenset()
    permissions: frozenset[str] = field(default=frozenset(), compare=False)

    def __post_init__(self) -> None:
        if not self.permissions and self.roles:
            granted = _DEFAULT_REGISTRY.permissions_for(_known(self.roles, _DEFAULT_REGISTRY))
            object.__setattr__(self, "permissions", granted)

    @classmethod
    def of(cls, user_id: int, roles: frozenset[Role], registry: RoleRegistry) -> Principal:
        """A user with the permissions `registry` gives their roles."""
        return cls(user_id, roles, registry.permissions_for(_known(roles, registry)))

    @classmethod
    def anonymous(cls) -> Principal:
        return cls(None)

    @classmethod
    def system(cls) -> Principal:
        """Trusted internal caller (seeding, migrations); never built from a request."""
        return cls(0, frozenset({Role.ADMIN}), ALL_PERMISSIONS)

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & {Role.STAFF, Role.ADMIN})

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    def can(self, permission: str) -> bool:
        """Whether the caller holds `permission` (`resource:action`, wildcards honoured)."""
        if self.permissions is ALL_PERMISSIONS:
            return True
        return grants(self.permissions, permission)

    def require(self, permission: str) -> int:
        """The caller's user id if they hold `permission`.

        Raises UnauthenticatedError when anonymous, ForbiddenError when not allowed.
        """
        user_id = self.require_user()
        if not self.can(permission):
            raise ForbiddenError(f"missing permission {permission}")
        return user_id

    def require_user(self) -> int:
        """The caller's user id; raises UnauthenticatedError when anonymous."""
        if self.user_id is None:
            raise UnauthenticatedError()
        return self.user_id

    def require_staff(self) -> None:
        """Raises UnauthenticatedError or ForbiddenError unless staff or admin."""
        self.require_user()
        if not self.is_staff:
            raise ForbiddenError()

    def require_admin(self) -> None:
        """Raises UnauthenticatedError or ForbiddenError unless admin."""
        self.require_user()
        if not self.is_admin:
            raise ForbiddenError()
