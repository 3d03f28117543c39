"""User service: reading accounts (account commands come with authentication)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from domain.errors import DuplicateError
from domain.events import EntityCreated
from domain.model import Policy
from domain.paging import Page, PageRequest
from domain.ports import UnitOfWorkFactory
from domain.principals import Principal
from domain.services.audit import AuditedService
from domain.specifications import Specification
from domain.users import Email, Role, User
from domain.visibility import visible_users

USER_SORT_FIELDS = frozenset({"id", "name", "email", "created_at"})

# Accounts change through their own use cases (`AccountService`); no generic command.
# Staff (`users:read`) see every account, others their own; the email is the owner's
# and admins' only (`users:read_email`).
POLICY = Policy(
    write="users:write",
    visible=visible_users,
    grants={"admin": frozenset({"users:read_email"})},
)


class UserService(AuditedService):
    """User queries; staff see everyone, others only themselves."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def get_many(self, principal: Principal, ids: Sequence[int]) -> Mapping[int, User]:
        if not principal.is_authenticated:
            return {}
        rule = visible_users(principal)
        async with self._uow(read_only=True) as uow:
            found = await uow.users.get_many(ids)
        return {key: user for key, user in found.items() if rule.is_satisfied_by(user)}

    async def page(
        self, principal: Principal, spec: Specification, request: PageRequest
    ) -> Page[User]:
        async with self._uow(read_only=True) as uow:
            return await uow.users.page(spec & visible_users(principal), request)

    async def count(self, principal: Principal, spec: Specification) -> int:
        async with self._uow(read_only=True) as uow:
            return await uow.users.count(spec & visible_users(principal))

    async def create(
        self,
        principal: Principal,
        *,
        email: Email,
        name: str,
        roles: frozenset[Role] = frozenset({Role.CUSTOMER}),
        password_hash: str | None = None,
    ) -> User:
        """Create an account (admin or system only); raises DuplicateError on the email."""
        principal.require("users:write")
        user = User(email=email, name=name, roles=roles, password_hash=password_hash)
        async with self._uow() as uow:
            if await uow.users.by_email(email) is not None:
                raise DuplicateError("user", "email", email.value)
            await uow.users.add(user)
            # Relayed after the commit: lists of users change (the response cache).
            uow.record(EntityCreated(entity="User", key=user.id))
            await uow.commit()
        return user
