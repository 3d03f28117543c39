"""Account resolvers: sign-up, sessions, passwords and roles."""

from __future__ import annotations

from collections.abc import Iterable

from domain.errors import UnauthenticatedError
from domain.tokens import TokenPair
from domain.users import User
from resolvers.context import Context


async def register(
    context: Context, email: str, password: str, name: str
) -> tuple[User, TokenPair]:
    return await context.services.accounts.register(email, password, name)


async def login(context: Context, email: str, password: str) -> tuple[User, TokenPair]:
    return await context.services.accounts.login(email, password, client=context.client_ip)


async def refresh(context: Context, refresh_token: str) -> tuple[User, TokenPair]:
    return await context.services.accounts.refresh(refresh_token)


async def logout(context: Context, refresh_token: str | None) -> None:
    if context.token is None:
        raise UnauthenticatedError("log in with a bearer token to log out")
    await context.services.accounts.logout(context.token, refresh_token)


async def logout_all(context: Context, user_id: int | None) -> None:
    await context.services.accounts.logout_all(context.principal, user_id)


async def change_password(context: Context, old: str, new: str) -> TokenPair:
    return await context.services.accounts.change_password(context.principal, old, new)


async def assign_roles(context: Context, user_id: int, roles: Iterable[str]) -> User:
    updated = await context.services.accounts.assign_roles(context.principal, user_id, roles)
    context.loaders.entity("User").clear(user_id)
    return updated
