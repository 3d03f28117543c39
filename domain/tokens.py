"""Tokens as the domain sees them: claims, pairs, and the issuing and revocation ports.

A session is a token *family*: login starts one, every refresh rotates within it, and
its access tokens carry the family too, so revoking the family ends the whole session.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol


class TokenKind(enum.StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenClaims:
    """The verified content of a token; `subject` is the user id."""

    subject: int
    kind: TokenKind
    jti: str
    family: str
    roles: frozenset[str]
    issuer: str
    audience: str
    issued_at: datetime
    not_before: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a client receives on register, login and refresh; `expires_in` is in seconds."""

    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    """A pair of encoded tokens together with the claims they carry."""

    pair: TokenPair
    access: TokenClaims
    refresh: TokenClaims


class TokenIssuer(Protocol):
    """Signs and verifies tokens (JWT in production)."""

    @property
    def access_ttl(self) -> timedelta: ...

    @property
    def refresh_ttl(self) -> timedelta: ...

    def issue_pair(
        self, subject: int, roles: Iterable[str], *, family: str | None = None
    ) -> IssuedTokens:
        """A fresh access and refresh token; a new family unless one is given (rotation)."""
        ...

    def verify(self, token: str, kind: TokenKind) -> TokenClaims:
        """The claims of a valid token of `kind`; raises UnauthenticatedError, nothing else."""
        ...


class TokenRevocationStore(Protocol):
    """Shared revocation state; every entry disappears at its `until` instant."""

    async def revoke(self, jti: str, until: datetime) -> None:
        """Revoke one token until it would have expired anyway."""
        ...

    async def is_revoked(self, jti: str) -> bool: ...

    async def revoke_family(self, family: str, until: datetime) -> None:
        """Revoke every token of a session (logout, refresh-token reuse)."""
        ...

    async def is_family_revoked(self, family: str) -> bool: ...

    async def revoke_all_for_user(
        self, user_id: int, issued_before: datetime, until: datetime
    ) -> None:
        """Every token of the user issued before `issued_before` is dead (never moves back)."""
        ...

    async def revoked_before(self, user_id: int) -> datetime | None:
        """The user's cutoff set by `revoke_all_for_user`, or None."""
        ...

    async def use_refresh(self, jti: str, family: str, until: datetime) -> bool:
        """Atomically mark a refresh token used; False if already used or its family revoked."""
        ...

    async def is_token_revoked(self, claims: TokenClaims) -> bool:
        """Whether the token's jti, its family or its user's cutoff revokes it.

        On the hot path of every authenticated request: adapters answer from memory.
        Raises UnavailableError only when there is nothing to answer from yet.
        """
        ...
