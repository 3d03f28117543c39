"""Account commands: register, login, refresh, logout, passwords and roles, authentication."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from domain.audit import AuditAction, AuditRecord
from domain.errors import (
    DuplicateError,
    FieldProblem,
    NotFoundError,
    UnauthenticatedError,
    ValidationError,
)
from domain.events import EntityCreated, EntityUpdated
from domain.passwords import PasswordHasher, PasswordPolicy
from domain.ports import UnitOfWorkFactory
from domain.principals import Principal
from domain.rbac import RoleRegistry, default_registry
from domain.services.audit import AuditedService
from domain.throttling import LoginThrottle, NoLoginThrottle, account_key
from domain.tokens import TokenClaims, TokenIssuer, TokenKind, TokenPair, TokenRevocationStore
from domain.users import Email, Role, User, check_name

INVALID_CREDENTIALS = "invalid email or password"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def parse_roles(roles: Iterable[str]) -> frozenset[Role]:
    """Role names as `Role`s; raises ValidationError naming every unknown one, or none given."""
    names = list(roles)
    known = {role.value for role in Role}
    unknown = sorted({name for name in names if name not in known})
    if unknown:
        raise ValidationError([FieldProblem("roles", f"unknown role {name!r}") for name in unknown])
    if not names:
        raise ValidationError.single("roles", "a user needs at least one role")
    return frozenset(Role(name) for name in names)


class _DummyHash:
    """A hash of a random password, made on first use: what a login without an account
    verifies against, so that it takes as long as one with."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self._hasher = hasher
        self._hash: str | None = None
        self._lock = asyncio.Lock()

    async def value(self) -> str:
        if self._hash is None:
            async with self._lock:
                if self._hash is None:
                    self._hash = await self._hasher.hash(secrets.token_urlsafe(24))
        return self._hash


class AccountService(AuditedService):
    """Accounts and sessions; every failure to prove identity is an UnauthenticatedError."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        tokens: TokenIssuer,
        revocations: TokenRevocationStore,
        policy: PasswordPolicy | None = None,
        *,
        registry: RoleRegistry | None = None,
        throttle: LoginThrottle | None = None,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._uow, self._hasher, self._tokens = uow, hasher, tokens
        self._revocations = revocations
        self.policy = policy or PasswordPolicy()
        self._registry = registry or default_registry()
        self._throttle: LoginThrottle = throttle or NoLoginThrottle()
        self._now = now
        # Shared by every request's copy (`for_request`): hashed once per process.
        self._dummy = _DummyHash(hasher)

    async def register(self, email: str, password: str, name: str) -> tuple[User, TokenPair]:
        """A new customer account and its first session.

        Raises ValidationError listing every problem of email, name and password, or
        DuplicateError when the email (case-insensitive) is taken.
        """
        problems: list[FieldProblem] = []
        address: Email | None = None
        try:
            address = Email(email)
        except ValidationError as error:
            problems.extend(error.problems)
        try:
            name = check_name(name)
        except ValidationError as error:
            problems.extend(error.problems)
        problems.extend(self.policy.problems(password, email=address))
        if problems or address is None:
            raise ValidationError(problems)
        # Hash before looking: a transaction is not held open for the ~125 ms, and a
        # taken email answers no faster than a free one.
        password_hash = await self._hasher.hash(password)
        user = User(email=address, name=name, password_hash=password_hash)
        async with self._uow() as uow:
            if await uow.users.by_email(address) is not None:
                raise DuplicateError("user", "email", address.value)
            await uow.users.add(user)
            # Relayed after the commit: lists of users change (the response cache).
            uow.record(EntityCreated(entity="User", key=user.id))
            await uow.commit()
        return user, self._tokens.issue_pair(user.id, user.roles).pair

    async def login(
        self, email: str, password: str, *, client: str | None = None
    ) -> tuple[User, TokenPair]:
        """A new session; raises UnauthenticatedError("invalid email or password").

        Raises RateLimitedError when the account or the client (an IP) has used up its
        attempts, before the password is even looked at.
        """
        await self._throttle.attempt(account_key(email), client)
        try:
            address: Email | None = Email(email)
        except ValidationError:
            address = None
        user: User | None = None
        if address is not None:
            async with self._uow(read_only=True) as uow:
                user = await uow.users.by_email(address)
        try:
            user = await self._check_credentials(user, password)
        except UnauthenticatedError as error:
            await self._audit(
                AuditRecord(
                    AuditAction.LOGIN_FAILED,
                    "User",
                    None if user is None else user.id,
                    after={"email": email, "reason": str(error)},
                )
            )
            raise
        await self._audit(AuditRecord(AuditAction.LOGIN, "User", user.id, actor_id=user.id))
        return user, self._tokens.issue_pair(user.id, user.roles).pair

    async def _check_credentials(self, user: User | None, password: str) -> User:
        if user is None or user.password_hash is None:
            # Same work as for a real account, so timing does not reveal which exist.
            await self._hasher.verify(await self._dummy.value(), password)
            raise UnauthenticatedError(INVALID_CREDENTIALS)
        if not await self._hasher.verify(user.password_hash, password):
            raise UnauthenticatedError(INVALID_CREDENTIALS)
        if not user.active:
            raise UnauthenticatedError("account is disabled")
        if self._hasher.needs_rehash(user.password_hash):
            user = await self._store_hash(user.id, await self._hasher.hash(password))
        return user

    async def refresh(self, refresh_token: str) -> tuple[User, TokenPair]:
        """Rotate a refresh token; reuse of a rotated one revokes its whole session.

        Raises UnauthenticatedError.
        """
        claims = self._tokens.verify(refresh_token, TokenKind.REFRESH)
        if await self._revocations.is_token_revoked(claims):
            raise UnauthenticatedError("token revoked")
        if not await self._revocations.use_refresh(claims.jti, claims.family, claims.expires_at):
            await self._revoke_session(claims.family)
            await self._audit(
                AuditRecord(
                    AuditAction.REFRESH_TOKEN_REUSED,
                    "User",
                    claims.subject,
                    actor_id=claims.subject,
                )
            )
            raise UnauthenticatedError("refresh token reuse detected; session revoked")
        async with self._uow(read_only=True) as uow:
            user = await uow.users.get(claims.subject)
        if user is None or not user.active:
            await self._revoke_session(claims.family)
            raise UnauthenticatedError("account is disabled")
        return user, self._tokens.issue_pair(user.id, user.roles, family=claims.family).pair

    async def logout(self, access: TokenClaims, refresh_token: str | None = None) -> None:
        """End this session: its access token and its family (hence every refresh token).

        A refresh token of another session of the same user ends that one too; one that
        is invalid or belongs to someone else is ignored, so logout always succeeds.
        """
        await self._revocations.revoke(access.jti, access.expires_at)
        await self._revoke_session(access.family)
        await self._audit(
            AuditRecord(AuditAction.LOGOUT, "User", access.subject, actor_id=access.subject)
        )
        if refresh_token is None:
            return
        try:
            other = self._tokens.verify(refresh_token, TokenKind.REFRESH)
        except UnauthenticatedError:
            return
        if other.subject == access.subject and other.family != access.family:
            await self._revoke_session(other.family)

    async def logout_all(self, principal: Principal, user_id: int | None = None) -> None:
        """End every session of a user (yourself; another user needs `users:write`).

        Raises UnauthenticatedError or ForbiddenError.
        """
        caller = principal.require_user()
        target = caller if user_id is None else user_id
        if target != caller:
            principal.require("users:write")
        await self._revoke_user(target)
        await self._audit(
            AuditRecord(AuditAction.LOGOUT, "User", target, after={"every_session": True})
        )

    async def change_password(self, principal: Principal, old: str, new: str) -> TokenPair:
        """Set a new password, end every session, and open a fresh one for the caller.

        Raises UnauthenticatedError, or ValidationError (wrong old password, or every
        rule the new one breaks).
        """
        user_id = principal.require_user()
        async with self._uow(read_only=True) as uow:
            user = await uow.users.get(user_id)
        if user is None or not user.active:
            raise UnauthenticatedError("account is disabled")
        if user.password_hash is None or not await self._hasher.verify(user.password_hash, old):
            raise ValidationError.single("old_password", "is incorrect")
        problems = self.policy.problems(new, email=user.email)
        if new == old:
            problems.append(FieldProblem("password", "must differ from the current password"))
        if problems:
            raise ValidationError(problems)
        user = await self._store_hash(
            user_id,
            await self._hasher.hash(new),
            AuditRecord(AuditAction.PASSWORD_CHANGED, "User", user_id),
        )
        await self._revoke_user(user_id)
        return self._tokens.issue_pair(user.id, user.roles).pair

    async def assign_roles(self, principal: Principal, user_id: int, roles: Iterable[str]) -> User:
        """Replace a user's roles (`roles:assign`); their sessions end so no token keeps old roles.

        Raises UnauthenticatedError, ForbiddenError, ValidationError (unknown or no
        roles, or an admin dropping their own admin role) or NotFoundError.
        """
        principal.require("roles:assign")
        wanted = parse_roles(roles)
        if user_id == principal.user_id and Role.ADMIN not in wanted:
            raise ValidationError.single("roles", "you cannot remove your own admin role")
        async with self._uow() as uow:
            # Locked: the whole row is written back, so a concurrent password change
            # must not be overwritten with the hash read here.
            user = await uow.users.get(user_id, for_update=True)
            if user is None:
                raise NotFoundError("user", user_id)
            if user.roles == wanted:
                return user
            before = sorted(role.value for role in user.roles)
            user.roles = wanted
            await uow.users.save(user)
            uow.audit(
                AuditRecord(
                    AuditAction.ROLES_CHANGED,
                    "User",
                    user_id,
                    before={"roles": before},
                    after={"roles": sorted(role.value for role in wanted)},
                )
            )
            uow.record(EntityUpdated(entity="User", key=user_id))
            await uow.commit()
        await self._revoke_user(user_id)
        return user

    async def verify_access(self, access_token: str) -> TokenClaims:
        """The claims of a live access token; raises UnauthenticatedError."""
        claims = self._tokens.verify(access_token, TokenKind.ACCESS)
        if await self._revocations.is_token_revoked(claims):
            raise UnauthenticatedError("token revoked")
        return claims

    async def authenticate(self, access_token: str) -> Principal:
        """The caller a bearer token proves; raises UnauthenticatedError."""
        return principal_from(await self.verify_access(access_token), self._registry)

    async def _audit(self, record: AuditRecord) -> None:
        """Store a security event on its own (nothing else changes with it)."""
        async with self._uow() as uow:
            uow.audit(record)
            await uow.commit()

    async def _store_hash(
        self, user_id: int, password_hash: str, event: AuditRecord | None = None
    ) -> User:
        async with self._uow() as uow:
            user = await uow.users.get(user_id, for_update=True)  # see assign_roles
            if user is None:
                raise UnauthenticatedError(INVALID_CREDENTIALS)
            user.password_hash = password_hash
            await uow.users.save(user)
            if event is not None:
                uow.audit(event)
            await uow.commit()
        return user

    async def _revoke_session(self, family: str) -> None:
        # A family lives on through rotations, so it must stay revoked as long as its
        # newest refresh token could: at most one refresh lifetime from now.
        await self._revocations.revoke_family(family, self._now() + self._tokens.refresh_ttl)

    async def _revoke_user(self, user_id: int) -> None:
        now = self._now()
        await self._revocations.revoke_all_for_user(
            user_id, issued_before=now, until=now + self._tokens.refresh_ttl
        )


def principal_from(claims: TokenClaims, registry: RoleRegistry | None = None) -> Principal:
    """The Principal an access token stands for; role names no longer known grant nothing."""
    known = {role.value for role in Role}
    roles = frozenset(Role(name) for name in claims.roles if name in known)
    return Principal.of(claims.subject, roles, registry or default_registry())
