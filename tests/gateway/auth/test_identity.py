"""Bearer authentication: every request's token is checked, whatever was built before."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain import rbac
from domain.errors import UnauthenticatedError
from domain.principals import Principal
from domain.services.accounts import AccountService
from domain.tokens import TokenKind
from domain.users import Role
from gateway.auth import identity
from gateway.auth.identity import BearerAuthenticator, Identity
from gateway.auth.tokens import JwtTokenService, SigningKey
from persistence.revocation import InMemoryRevocationStore
from tests.fakes import FakeUnitOfWorkFactory

NOW = datetime(2026, 11, 3, 12, 0, 0, tzinfo=UTC)


class NoPasswords:
    """Bearer authentication hashes nothing."""

    async def hash(self, password: str) -> str:
        raise AssertionError("not called")

    async def verify(self, hash: str, password: str) -> bool:
        raise AssertionError("not called")

    def needs_rehash(self, hash: str) -> bool:
        raise AssertionError("not called")


@pytest.fixture
def tokens() -> JwtTokenService:
    return JwtTokenService(
        SigningKey.hs256(b"k" * 32), issuer="gw", audience="api", now=lambda: NOW
    )


@pytest.fixture
def revocations() -> InMemoryRevocationStore:
    return InMemoryRevocationStore(now=lambda: NOW)


@pytest.fixture
def authenticator(
    tokens: JwtTokenService, revocations: InMemoryRevocationStore
) -> BearerAuthenticator:
    accounts = AccountService(
        FakeUnitOfWorkFactory(), NoPasswords(), tokens, revocations, now=lambda: NOW
    )
    return BearerAuthenticator(accounts, rbac.default_registry())


def bearer(tokens: JwtTokenService, user_id: int, *roles: str) -> dict[str, str]:
    token, _ = tokens.issue(TokenKind.ACCESS, user_id, list(roles))
    return {"authorization": f"Bearer {token}"}


async def test_each_token_is_the_principal_of_its_own_roles(
    authenticator: BearerAuthenticator, tokens: JwtTokenService
) -> None:
    registry = rbac.default_registry()
    customer = bearer(tokens, 7, "customer")
    admin = bearer(tokens, 7, "admin")
    other = bearer(tokens, 8, "customer")
    seen = [
        (await authenticator.authenticate(headers)).principal
        for headers in (customer, admin, customer, other, admin)
    ]
    assert seen == [
        Principal.of(7, frozenset({Role.CUSTOMER}), registry),
        Principal.of(7, frozenset({Role.ADMIN}), registry),
        Principal.of(7, frozenset({Role.CUSTOMER}), registry),
        Principal.of(8, frozenset({Role.CUSTOMER}), registry),
        Principal.of(7, frozenset({Role.ADMIN}), registry),
    ]
    assert [principal.permissions for principal in seen] == [
        registry.permissions_for(["customer"]),
        registry.permissions_for(["admin"]),
        registry.permissions_for(["customer"]),
        registry.permissions_for(["customer"]),
        registry.permissions_for(["admin"]),
    ]


async def test_a_token_revoked_after_it_was_served_is_refused(
    authenticator: BearerAuthenticator,
    tokens: JwtTokenService,
    revocations: InMemoryRevocationStore,
) -> None:
    headers = bearer(tokens, 7, "customer")
    served = await authenticator.authenticate(headers)
    assert served.token is not None
    await revocations.revoke(served.token.jti, served.token.expires_at)
    with pytest.raises(UnauthenticatedError) as caught:
        await authenticator.authenticate(headers)
    assert str(caught.value) == "token revoked"


async def test_the_remembered_principals_are_bounded(
    authenticator: BearerAuthenticator, tokens: JwtTokenService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(identity, "MAX_REMEMBERED_PRINCIPALS", 2)
    answers = [
        await authenticator.authenticate(bearer(tokens, user_id, "customer"))
        for user_id in (1, 2, 3, 1)
    ]
    assert [answer.principal.user_id for answer in answers] == [1, 2, 3, 1]
    assert len(authenticator._principals) <= 2
    assert answers[0] == Identity(answers[3].principal, answers[0].token)


async def test_a_remembered_identity_is_served_only_while_its_token_is_live(
    revocations: InMemoryRevocationStore,
) -> None:
    clock = [NOW]
    tokens = JwtTokenService(
        SigningKey.hs256(b"k" * 32), issuer="gw", audience="api", now=lambda: clock[0]
    )
    accounts = AccountService(
        FakeUnitOfWorkFactory(), NoPasswords(), tokens, revocations, now=lambda: clock[0]
    )
    authenticator = BearerAuthenticator(accounts, rbac.default_registry())
    headers = bearer(tokens, 7, "customer")
    first = await authenticator.authenticate(headers)
    assert await authenticator.authenticate(headers) is first
    assert first.token is not None
    clock[0] = first.token.expires_at + tokens.leeway
    with pytest.raises(UnauthenticatedError) as caught:
        await authenticator.authenticate(headers)
    assert str(caught.value) == "token expired"


async def test_the_remembered_identities_are_bounded(
    authenticator: BearerAuthenticator, tokens: JwtTokenService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(identity, "MAX_REMEMBERED_PRINCIPALS", 2)
    for user_id in (1, 2, 3, 4, 5):
        await authenticator.authenticate(bearer(tokens, user_id, "customer"))
    assert len(authenticator._identities) <= 2
