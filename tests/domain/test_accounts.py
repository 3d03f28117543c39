from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from domain import rbac
from domain.errors import (
    ConflictError,
    DuplicateError,
    FieldProblem,
    ForbiddenError,
    NotFoundError,
    UnauthenticatedError,
    ValidationError,
)
from domain.principals import Principal
from domain.services.accounts import AccountService, parse_roles, principal_from
from domain.tokens import TokenKind, TokenPair
from domain.users import Email, Role, User
from gateway.auth.tokens import JwtTokenService, SigningKey
from persistence.revocation import InMemoryRevocationStore
from tests.fakes import FakeUnitOfWorkFactory

T0 = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
PASSWORD = "correct-Horse-9"
NEW_PASSWORD = "battery-Staple-7"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta = timedelta(seconds=1)) -> None:
        self.now += delta


@dataclass
class FakeHasher:
    """Reversible "hashes" tagged with a parameter version; records every call."""

    version: int = 1
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def hash(self, password: str) -> str:
        self.calls.append(("hash", password))
        return f"v{self.version}${password}"

    async def verify(self, hash: str, password: str) -> bool:
        self.calls.append(("verify", hash))
        return hash.partition("$")[2] == password

    def needs_rehash(self, hash: str) -> bool:
        return not hash.startswith(f"v{self.version}$")


@dataclass
class World:
    clock: Clock
    uow: FakeUnitOfWorkFactory
    hasher: FakeHasher
    tokens: JwtTokenService
    revocations: InMemoryRevocationStore
    accounts: AccountService

    def stored(self, user_id: int) -> User:
        return self.uow.store.users[user_id]

    def add_user(
        self,
        email: str,
        *,
        roles: frozenset[Role] = frozenset({Role.CUSTOMER}),
        active: bool = True,
    ) -> User:
        return self.uow.add_user(
            User(
                email=Email(email),
                name="Someone",
                roles=roles,
                active=active,
                password_hash=f"v1${PASSWORD}",
            )
        )


@pytest.fixture
def world() -> World:
    clock = Clock()
    uow = FakeUnitOfWorkFactory()
    hasher = FakeHasher()
    tokens = JwtTokenService(SigningKey.hs256(b"k" * 32), issuer="gw", audience="api", now=clock)
    revocations = InMemoryRevocationStore(now=clock)
    accounts = AccountService(uow, hasher, tokens, revocations, now=clock)
    return World(clock, uow, hasher, tokens, revocations, accounts)


async def refused(awaitable: Awaitable[object], message: str) -> None:
    with pytest.raises(UnauthenticatedError) as caught:
        await awaitable
    assert str(caught.value) == message


async def login(world: World, email: str = "ann@example.org") -> TokenPair:
    _, pair = await world.accounts.login(email, PASSWORD)
    return pair


# --- register --------------------------------------------------------------------------------


async def test_registering_creates_a_customer_and_a_working_session(world: World) -> None:
    user, pair = await world.accounts.register("Ann@Example.org", PASSWORD, "  Ann  ")
    stored = world.stored(user.id)
    assert (stored.email, stored.name, stored.roles, stored.active, stored.password_hash) == (
        Email("ann@example.org"),
        "Ann",
        frozenset({Role.CUSTOMER}),
        True,
        f"v1${PASSWORD}",
    )
    assert pair.expires_in == 1800
    assert await world.accounts.authenticate(pair.access_token) == Principal(
        user.id, frozenset({Role.CUSTOMER})
    )


async def test_registering_lists_every_problem_and_creates_nothing(world: World) -> None:
    with pytest.raises(ValidationError) as caught:
        await world.accounts.register("not-an-email", "short", "   ")
    assert caught.value.problems == [
        FieldProblem("email", "is not a valid email address"),
        FieldProblem("name", "must not be empty"),
        FieldProblem("password", "must be at least 12 characters long"),
        FieldProblem(
            "password",
            "must contain at least 3 of: lowercase letters, uppercase letters, digits, symbols",
        ),
    ]
    assert world.uow.store.users == {}
    assert world.hasher.calls == []


async def test_a_password_containing_the_email_is_refused(world: World) -> None:
    with pytest.raises(ValidationError) as caught:
        await world.accounts.register("annabel@example.org", "My-ANNABEL-pw-1", "Ann")
    assert caught.value.problems == [FieldProblem("password", "must not contain the email address")]


async def test_a_duplicate_email_is_refused_whatever_its_case(world: World) -> None:
    first, _ = await world.accounts.register("ann@example.org", PASSWORD, "Ann")
    with pytest.raises(DuplicateError) as caught:
        await world.accounts.register("ANN@example.ORG", PASSWORD, "Other Ann")
    assert (caught.value.kind, caught.value.field, caught.value.value) == (
        "user",
        "email",
        "ann@example.org",
    )
    assert list(world.uow.store.users) == [first.id]


async def test_a_failed_commit_leaves_no_account(world: World) -> None:
    world.uow.fail_next_commit()
    with pytest.raises(ConflictError):
        await world.accounts.register("ann@example.org", PASSWORD, "Ann")
    assert world.uow.store.users == {}


# --- login -----------------------------------------------------------------------------------


async def test_logging_in_opens_a_session(world: World) -> None:
    ann = world.add_user("ann@example.org", roles=frozenset({Role.STAFF, Role.CUSTOMER}))
    user, pair = await world.accounts.login("ANN@example.org", PASSWORD)
    assert user.id == ann.id
    assert await world.accounts.authenticate(pair.access_token) == Principal(
        ann.id, frozenset({Role.STAFF, Role.CUSTOMER})
    )


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("ann@example.org", "wrong-Password-1"),
        ("nobody@example.org", PASSWORD),
        ("not an email", PASSWORD),
    ],
)
async def test_wrong_credentials_get_one_answer(world: World, email: str, password: str) -> None:
    world.add_user("ann@example.org")
    world.hasher.calls.clear()
    await refused(world.accounts.login(email, password), "invalid email or password")
    verifies = [call for call in world.hasher.calls if call[0] == "verify"]
    assert len(verifies) == 1  # a missing account costs a verification too


async def test_the_dummy_hash_is_made_once(world: World) -> None:
    for _ in range(3):
        await refused(
            world.accounts.login("nobody@example.org", PASSWORD), "invalid email or password"
        )
    assert [call[0] for call in world.hasher.calls] == ["hash", "verify", "verify", "verify"]


async def test_an_account_without_a_password_cannot_log_in(world: World) -> None:
    world.uow.add_user(User(email=Email("sso@example.org"), name="Sso"))
    await refused(world.accounts.login("sso@example.org", ""), "invalid email or password")


async def test_an_inactive_account_is_refused(world: World) -> None:
    world.add_user("ann@example.org", active=False)
    await refused(world.accounts.login("ann@example.org", PASSWORD), "account is disabled")
    await refused(
        world.accounts.login("ann@example.org", "wrong-Password-1"), "invalid email or password"
    )


async def test_login_rehashes_when_the_parameters_changed(world: World) -> None:
    ann = world.add_user("ann@example.org")
    world.hasher.version = 2
    await world.accounts.login("ann@example.org", PASSWORD)
    assert world.stored(ann.id).password_hash == f"v2${PASSWORD}"
    world.hasher.calls.clear()
    await world.accounts.login("ann@example.org", PASSWORD)
    assert world.hasher.calls == [("verify", f"v2${PASSWORD}")]


# --- refresh ---------------------------------------------------------------------------------


async def test_refreshing_rotates_within_the_session(world: World) -> None:
    ann = world.add_user("ann@example.org")
    first = await login(world)
    world.clock.advance(timedelta(minutes=10))
    user, second = await world.accounts.refresh(first.refresh_token)
    assert user.id == ann.id
    old = world.tokens.verify(first.refresh_token, TokenKind.REFRESH)
    new = world.tokens.verify(second.refresh_token, TokenKind.REFRESH)
    assert (new.family, new.issued_at, new.expires_at) == (
        old.family,
        T0 + timedelta(minutes=10),
        T0 + timedelta(minutes=10, days=7),
    )
    assert new.jti != old.jti
    assert (await world.accounts.authenticate(second.access_token)).user_id == ann.id


async def test_reusing_a_rotated_refresh_token_ends_the_whole_session(world: World) -> None:
    world.add_user("ann@example.org")
    first = await login(world)
    _, second = await world.accounts.refresh(first.refresh_token)
    await refused(
        world.accounts.refresh(first.refresh_token),
        "refresh token reuse detected; session revoked",
    )
    await refused(world.accounts.refresh(second.refresh_token), "token revoked")
    await refused(world.accounts.authenticate(second.access_token), "token revoked")
    await refused(world.accounts.authenticate(first.access_token), "token revoked")


async def test_reuse_ends_only_that_session(world: World) -> None:
    world.add_user("ann@example.org")
    phone, laptop = await login(world), await login(world)
    await world.accounts.refresh(phone.refresh_token)
    await refused(
        world.accounts.refresh(phone.refresh_token), "refresh token reuse detected; session revoked"
    )
    assert (await world.accounts.authenticate(laptop.access_token)).user_id is not None
    await world.accounts.refresh(laptop.refresh_token)


async def test_an_access_token_cannot_refresh(world: World) -> None:
    world.add_user("ann@example.org")
    pair = await login(world)
    await refused(world.accounts.refresh(pair.access_token), "wrong token kind")


async def test_a_deactivated_user_cannot_refresh(world: World) -> None:
    ann = world.add_user("ann@example.org")
    pair = await login(world)
    world.uow.store.users[ann.id].active = False
    await refused(world.accounts.refresh(pair.refresh_token), "account is disabled")
    await refused(world.accounts.authenticate(pair.access_token), "token revoked")


async def test_refresh_uses_the_current_roles(world: World) -> None:
    ann = world.add_user("ann@example.org")
    pair = await login(world)
    world.uow.store.users[ann.id].roles = frozenset({Role.STAFF})
    _, second = await world.accounts.refresh(pair.refresh_token)
    assert (await world.accounts.authenticate(second.access_token)).roles == {Role.STAFF}


# --- logout ----------------------------------------------------------------------------------


async def test_logout_ends_this_session_only(world: World) -> None:
    world.add_user("ann@example.org")
    phone, laptop = await login(world), await login(world)
    claims = await world.accounts.verify_access(phone.access_token)
    await world.accounts.logout(claims)
    await refused(world.accounts.authenticate(phone.access_token), "token revoked")
    await refused(world.accounts.refresh(phone.refresh_token), "token revoked")
    assert (await world.accounts.authenticate(laptop.access_token)).user_id is not None


async def test_logout_with_another_refresh_token_of_mine_ends_that_session_too(
    world: World,
) -> None:
    world.add_user("ann@example.org")
    bob = world.add_user("bob@example.org")
    phone, laptop = await login(world), await login(world)
    bobs = await login(world, "bob@example.org")
    claims = await world.accounts.verify_access(phone.access_token)
    await world.accounts.logout(claims, laptop.refresh_token)
    await world.accounts.logout(claims, bobs.refresh_token)
    await world.accounts.logout(claims, "garbage")
    await refused(world.accounts.authenticate(laptop.access_token), "token revoked")
    assert (await world.accounts.authenticate(bobs.access_token)).user_id == bob.id


async def test_logout_all_ends_every_session_issued_before(world: World) -> None:
    ann = world.add_user("ann@example.org")
    phone, laptop = await login(world), await login(world)
    world.clock.advance()
    await world.accounts.logout_all(Principal(ann.id, frozenset({Role.CUSTOMER})))
    for pair in (phone, laptop):
        await refused(world.accounts.authenticate(pair.access_token), "token revoked")
        await refused(world.accounts.refresh(pair.refresh_token), "token revoked")
    fresh = await login(world)
    assert (await world.accounts.authenticate(fresh.access_token)).user_id == ann.id


async def test_only_an_admin_logs_out_someone_else(world: World) -> None:
    ann = world.add_user("ann@example.org")
    pair = await login(world)
    world.clock.advance()
    with pytest.raises(ForbiddenError):
        await world.accounts.logout_all(Principal(99, frozenset({Role.STAFF})), ann.id)
    assert (await world.accounts.authenticate(pair.access_token)).user_id == ann.id
    await world.accounts.logout_all(Principal(99, frozenset({Role.ADMIN})), ann.id)
    await refused(world.accounts.authenticate(pair.access_token), "token revoked")
    with pytest.raises(UnauthenticatedError):
        await world.accounts.logout_all(Principal.anonymous())


# --- change password -------------------------------------------------------------------------


async def test_changing_the_password_ends_other_sessions_and_opens_a_new_one(
    world: World,
) -> None:
    ann = world.add_user("ann@example.org")
    old = await login(world)
    world.clock.advance()
    me = await world.accounts.authenticate(old.access_token)
    fresh = await world.accounts.change_password(me, PASSWORD, NEW_PASSWORD)
    await refused(world.accounts.authenticate(old.access_token), "token revoked")
    assert (await world.accounts.authenticate(fresh.access_token)).user_id == ann.id
    assert world.stored(ann.id).password_hash == f"v1${NEW_PASSWORD}"
    await refused(world.accounts.login("ann@example.org", PASSWORD), "invalid email or password")
    await world.accounts.login("ann@example.org", NEW_PASSWORD)


async def test_a_wrong_current_password_changes_nothing(world: World) -> None:
    ann = world.add_user("ann@example.org")
    pair = await login(world)
    with pytest.raises(ValidationError) as caught:
        await world.accounts.change_password(
            Principal(ann.id, frozenset({Role.CUSTOMER})), "guess-Word-99", NEW_PASSWORD
        )
    assert caught.value.problems == [FieldProblem("old_password", "is incorrect")]
    assert world.stored(ann.id).password_hash == f"v1${PASSWORD}"
    assert (await world.accounts.authenticate(pair.access_token)).user_id == ann.id


async def test_a_weak_new_password_lists_every_problem(world: World) -> None:
    ann = world.add_user("annabel@example.org")
    with pytest.raises(ValidationError) as caught:
        await world.accounts.change_password(
            Principal(ann.id, frozenset({Role.CUSTOMER})), PASSWORD, "annabel"
        )
    assert caught.value.problems == [
        FieldProblem("password", "must be at least 12 characters long"),
        FieldProblem(
            "password",
            "must contain at least 3 of: lowercase letters, uppercase letters, digits, symbols",
        ),
        FieldProblem("password", "must not contain the email address"),
    ]
    with pytest.raises(ValidationError) as same:
        await world.accounts.change_password(
            Principal(ann.id, frozenset({Role.CUSTOMER})), PASSWORD, PASSWORD
        )
    assert same.value.problems == [
        FieldProblem("password", "must differ from the current password")
    ]


# --- roles -----------------------------------------------------------------------------------

ADMIN = Principal(1000, frozenset({Role.ADMIN}))


async def test_an_admin_assigns_roles_and_old_tokens_stop_working(world: World) -> None:
    ann = world.add_user("ann@example.org")
    pair = await login(world)
    world.clock.advance()
    user = await world.accounts.assign_roles(ADMIN, ann.id, ["staff", "customer"])
    assert user.roles == world.stored(ann.id).roles == {Role.STAFF, Role.CUSTOMER}
    await refused(world.accounts.authenticate(pair.access_token), "token revoked")
    fresh = await login(world)
    assert (await world.accounts.authenticate(fresh.access_token)).roles == {
        Role.STAFF,
        Role.CUSTOMER,
    }


async def test_assigning_the_same_roles_keeps_sessions(world: World) -> None:
    ann = world.add_user("ann@example.org")
    pair = await login(world)
    world.clock.advance()
    await world.accounts.assign_roles(ADMIN, ann.id, ["customer"])
    assert (await world.accounts.authenticate(pair.access_token)).user_id == ann.id


async def test_only_admins_assign_roles(world: World) -> None:
    ann = world.add_user("ann@example.org")
    with pytest.raises(ForbiddenError):
        await world.accounts.assign_roles(Principal(5, frozenset({Role.STAFF})), ann.id, ["admin"])
    with pytest.raises(UnauthenticatedError):
        await world.accounts.assign_roles(Principal.anonymous(), ann.id, ["admin"])
    assert world.stored(ann.id).roles == {Role.CUSTOMER}


async def test_unknown_roles_are_each_named(world: World) -> None:
    ann = world.add_user("ann@example.org")
    with pytest.raises(ValidationError) as caught:
        await world.accounts.assign_roles(ADMIN, ann.id, ["staff", "root", "god"])
    assert caught.value.problems == [
        FieldProblem("roles", "unknown role 'god'"),
        FieldProblem("roles", "unknown role 'root'"),
    ]
    with pytest.raises(ValidationError) as empty:
        await world.accounts.assign_roles(ADMIN, ann.id, [])
    assert empty.value.problems == [FieldProblem("roles", "a user needs at least one role")]


async def test_assigning_roles_to_a_missing_user_is_not_found(world: World) -> None:
    with pytest.raises(NotFoundError) as caught:
        await world.accounts.assign_roles(ADMIN, 404, ["staff"])
    assert (caught.value.kind, caught.value.key) == ("user", 404)


async def test_an_admin_cannot_drop_their_own_admin_role(world: World) -> None:
    me = world.add_user("root@example.org", roles=frozenset({Role.ADMIN}))
    with pytest.raises(ValidationError) as caught:
        await world.accounts.assign_roles(Principal(me.id, me.roles), me.id, ["staff"])
    assert caught.value.problems == [FieldProblem("roles", "you cannot remove your own admin role")]


# --- authenticate ----------------------------------------------------------------------------


async def test_authenticate_refuses_bad_and_expired_tokens(world: World) -> None:
    world.add_user("ann@example.org")
    pair = await login(world)
    await refused(world.accounts.authenticate("garbage"), "malformed token")
    await refused(world.accounts.authenticate(pair.refresh_token), "wrong token kind")
    world.clock.advance(timedelta(minutes=31))
    await refused(world.accounts.authenticate(pair.access_token), "token expired")


def test_roles_unknown_to_the_domain_grant_nothing() -> None:
    claims = JwtTokenService(SigningKey.hs256(b"k" * 32), issuer="gw", audience="api").new_claims(
        TokenKind.ACCESS, 7, ["staff", "retired-role"]
    )
    assert principal_from(claims) == Principal(7, frozenset({Role.STAFF}))


async def test_the_principal_carries_the_permissions_of_its_roles(world: World) -> None:
    world.add_user("ann@example.org", roles=frozenset({Role.STAFF}))
    principal = await world.accounts.authenticate((await login(world)).access_token)
    assert principal.permissions == rbac.default_registry().resolve("staff")
    custom = rbac.RoleRegistry([rbac.RoleDefinition("staff", frozenset({"items:read"}))])
    accounts = AccountService(
        world.uow, world.hasher, world.tokens, world.revocations, registry=custom, now=world.clock
    )
    pair = await login(world)
    assert (await accounts.authenticate(pair.access_token)).permissions == {"items:read"}


def test_parse_roles_accepts_known_names() -> None:
    assert parse_roles(["admin", "customer"]) == {Role.ADMIN, Role.CUSTOMER}
