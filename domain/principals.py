"""Who is acting: the authenticated caller as the domain sees it."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import ForbiddenError, UnauthenticatedError
from domain.users import Role


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a service; `user_id` is None for anonymous callers."""

    user_id: int | None
    roles: frozenset[Role] = frozenset()

    @classmethod
    def anonymous(cls) -> Principal:
        return cls(None)

    @classmethod
    def system(cls) -> Principal:
        """Trusted internal caller (seeding, migrations); never built from a request."""
        return cls(0, frozenset({Role.ADMIN}))

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & {Role.STAFF, Role.ADMIN})

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

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
