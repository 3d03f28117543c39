"""Who is calling: turning a request's credentials into a domain Principal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from domain.errors import UnauthenticatedError
from domain.ports import UnitOfWorkFactory
from domain.principals import Principal

DEBUG_HEADER = "x-debug-user"


class Authenticator(Protocol):
    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        """The caller; anonymous without credentials; UnauthenticatedError if they are bad."""
        ...


class AnonymousAuthenticator:
    """Everyone is anonymous: the safe default when nothing else is configured."""

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        return Principal.anonymous()


class DebugHeaderAuthenticator:
    """Development only: `X-Debug-User: <user id>` acts as that user.

    The `prod` profile refuses to enable it (settings validation), so it cannot
    leak into a deployment by accident.
    """

    def __init__(self, uow: UnitOfWorkFactory, fallback: Authenticator) -> None:
        self._uow, self._fallback = uow, fallback

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        raw = headers.get(DEBUG_HEADER)
        if raw is None:
            return await self._fallback.authenticate(headers)
        if not raw.isdigit():
            raise UnauthenticatedError(f"{DEBUG_HEADER} must be a user id")
        async with self._uow(read_only=True) as uow:
            user = await uow.users.get(int(raw))
        if user is None or not user.active:
            raise UnauthenticatedError("unknown or inactive user")
        return Principal(user.id, user.roles)
