"""User resolvers."""

from __future__ import annotations

from domain.paging import Page, PageRequest
from domain.specifications import Specification
from domain.users import User
from resolvers.context import Context


async def user(context: Context, user_id: int) -> User | None:
    return await context.loaders.users.load(user_id)


async def me(context: Context) -> User | None:
    if context.principal.user_id is None:
        return None
    return await context.loaders.users.load(context.principal.user_id)


async def users(context: Context, spec: Specification, request: PageRequest) -> Page[User]:
    return await context.services.users.page(context.principal, spec, request)


async def count_users(context: Context, spec: Specification) -> int:
    return await context.services.users.count(context.principal, spec)


def can_see_email(context: Context, owner_id: int) -> bool:
    """An email is personal data: its owner and admins see it, nobody else."""
    return context.principal.user_id == owner_id or context.principal.is_admin
