"""Who is calling: turning a request's credentials into a domain Principal."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from domain.errors import UnauthenticatedError
from domain.ports import UnitOfWorkFactory
from domain.principals import Principal
from domain.rbac import RoleRegistry
from domain.services.accounts import AccountService, principal_from
from domain.tokens import TokenClaims

DEBUG_HEADER = "x-debug-user"
# Far larger than any token we issue; anything bigger is refused before parsing.
MAX_AUTHORIZATION_BYTES = 8192
# Distinct (user, roles) pairs whose principal is kept, and tokens whose identity is;
# past it a memo starts over.
MAX_REMEMBERED_PRINCIPALS = 10_000


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller and, when a bearer token proved it, that token's claims."""

    principal: Principal
    token: TokenClaims | None = None

    @classmethod
    def anonymous(cls) -> Identity:
        return _ANONYMOUS


# Both frozen: one shared value for every request without credentials.
_ANONYMOUS = Identity(Principal.anonymous())


class Authenticator(Protocol):
    async def authenticate(self, headers: Mapping[str, str]) -> Identity:
        """The caller; anonymous without credentials; UnauthenticatedError if they are bad."""
        ...


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an `Authorization: Bearer` header; raises UnauthenticatedError if malformed."""
    raw = headers.get("authorization")
    if raw is None:
        return None
    if len(raw) > MAX_AUTHORIZATION_BYTES:
        raise UnauthenticatedError("the Authorization header is too large")
    scheme, _, token = raw.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthenticatedError("use the Authorization: Bearer <token> scheme")
    return token.strip()


class BearerAuthenticator:
    """Access tokens in `Authorization: Bearer`; no header means anonymous."""

    def __init__(self, accounts: AccountService, registry: RoleRegistry) -> None:
        self._accounts, self._registry = accounts, registry
        # A principal is a value of its user and role names (and the registry, fixed at
        # start-up): built once per pair rather than per request. Every request's token
        # is still verified and checked against the revocations.
        self._principals: dict[tuple[int, frozenset[str]], Principal] = {}
        # The identity of each token's claims, by jti, kept with the claims object it was
        # made of: a verified token's claims are the same object on every request (the
        # verification memo's), so a hit is `is`, not a comparison of ten fields.
        self._identities: dict[str, Identity] = {}

    async def authenticate(self, headers: Mapping[str, str]) -> Identity:
        token = bearer_token(headers)
        if token is None:
            return Identity.anonymous()
        # Verified, its expiry and its revocation checked, on every request.
        claims = await self._accounts.verify_access(token)
        known = self._identities.get(claims.jti)
        if known is not None and known.token is claims:
            return known
        if len(self._identities) >= MAX_REMEMBERED_PRINCIPALS:
            self._identities.clear()
        identity = self._identities[claims.jti] = Identity(self._principal(claims), claims)
        return identity

    def _principal(self, claims: TokenClaims) -> Principal:
        key = (claims.subject, claims.roles)
        principal = self._principals.get(key)
        if principal is None:
            if len(self._principals) >= MAX_REMEMBERED_PRINCIPALS:
                self._principals.clear()
            principal = self._principals[key] = principal_from(claims, self._registry)
        return principal


class DebugHeaderAuthenticator:
    """Development only: `X-Debug-User: <user id>` acts as that user.

    The `prod` profile refuses to enable it (settings validation), so it cannot
    leak into a deployment by accident.
    """

    def __init__(
        self, uow: UnitOfWorkFactory, registry: RoleRegistry, fallback: Authenticator
    ) -> None:
        self._uow, self._registry, self._fallback = uow, registry, fallback

    async def authenticate(self, headers: Mapping[str, str]) -> Identity:
        raw = headers.get(DEBUG_HEADER)
        if raw is None:
            return await self._fallback.authenticate(headers)
        if not raw.isascii() or not raw.isdigit():
            raise UnauthenticatedError(f"{DEBUG_HEADER} must be a user id")
        async with self._uow(read_only=True) as uow:
            user = await uow.users.get(int(raw))
        if user is None or not user.active:
            raise UnauthenticatedError("unknown or inactive user")
        return Identity(Principal.of(user.id, user.roles, self._registry))
