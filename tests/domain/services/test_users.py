from __future__ import annotations

import pytest

from domain.errors import DuplicateError, ForbiddenError, UnauthenticatedError
from domain.paging import PageRequest
from domain.principals import Principal
from domain.services.users import UserService
from domain.specifications import Always
from domain.users import Email, Role, User
from tests.fakes import FakeUnitOfWorkFactory

ADMIN = Principal(1, frozenset({Role.ADMIN}))
ANONYMOUS = Principal.anonymous()


@pytest.fixture
def service(uow: FakeUnitOfWorkFactory) -> UserService:
    return UserService(uow)


@pytest.fixture
def ann(uow: FakeUnitOfWorkFactory) -> User:
    return uow.add_user(User(email=Email("ann@example.com"), name="Ann"))


@pytest.fixture
def bob(uow: FakeUnitOfWorkFactory) -> User:
    return uow.add_user(
        User(email=Email("bob@example.com"), name="Bob", roles=frozenset({Role.STAFF}))
    )


@pytest.mark.parametrize("principal", [ADMIN, Principal.system()])
async def test_an_admin_creates_a_user(
    service: UserService, uow: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    user = await service.create(
        principal,
        email=Email("Cat@Example.com"),
        name="Cat",
        roles=frozenset({Role.STAFF}),
        password_hash="hash",
    )

    stored = uow.store.users[user.id]
    assert (stored.email, stored.name, stored.roles, stored.password_hash, stored.active) == (
        Email("cat@example.com"),
        "Cat",
        frozenset({Role.STAFF}),
        "hash",
        True,
    )


@pytest.mark.parametrize(
    ("principal", "error"),
    [
        (Principal(5, frozenset({Role.CUSTOMER})), ForbiddenError),
        (Principal(6, frozenset({Role.STAFF})), ForbiddenError),
        (ANONYMOUS, UnauthenticatedError),
    ],
)
async def test_only_admins_create_users(
    service: UserService,
    uow: FakeUnitOfWorkFactory,
    principal: Principal,
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        await service.create(principal, email=Email("cat@example.com"), name="Cat")
    assert (uow.store.users, uow.opened) == ({}, [])


async def test_an_email_that_differs_only_in_case_is_a_duplicate(
    service: UserService, uow: FakeUnitOfWorkFactory, ann: User
) -> None:
    with pytest.raises(DuplicateError) as caught:
        await service.create(ADMIN, email=Email(" ANN@Example.COM "), name="Imposter")

    assert (caught.value.kind, caught.value.field, caught.value.value) == (
        "user",
        "email",
        "ann@example.com",
    )
    assert [user.name for user in uow.store.users.values()] == ["Ann"]


async def test_a_customer_sees_only_themselves(
    service: UserService, uow: FakeUnitOfWorkFactory, ann: User, bob: User
) -> None:
    me = Principal(ann.id, ann.roles)

    found = await service.get_many(me, [ann.id, bob.id])
    page = await service.page(me, Always(), PageRequest(first=10))
    count = await service.count(me, Always())

    assert (list(found), [u.id for u in page.items], count) == ([ann.id], [ann.id], 1)


# Since 3db8545 staff read every user too: handling an order needs its customer.
@pytest.mark.parametrize("roles", [frozenset({Role.STAFF}), frozenset({Role.ADMIN})])
async def test_staff_and_admins_see_every_user(
    service: UserService, ann: User, bob: User, roles: frozenset[Role]
) -> None:
    caller = Principal(500, roles)

    found = await service.get_many(caller, [ann.id, bob.id, 999])
    page = await service.page(caller, Always(), PageRequest(first=10))
    count = await service.count(caller, Always())

    assert (sorted(found), [u.id for u in page.items], count) == (
        sorted([ann.id, bob.id]),
        [ann.id, bob.id],
        2,
    )


async def test_an_anonymous_caller_sees_no_users(service: UserService, ann: User) -> None:
    assert await service.get_many(ANONYMOUS, [ann.id]) == {}
    with pytest.raises(UnauthenticatedError):
        await service.page(ANONYMOUS, Always(), PageRequest(first=10))
