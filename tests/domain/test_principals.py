from __future__ import annotations

from collections.abc import Callable

import pytest

from domain.errors import DomainError, ForbiddenError, UnauthenticatedError
from domain.principals import Principal
from domain.users import Role

ANONYMOUS = Principal.anonymous()
CUSTOMER = Principal(5, frozenset({Role.CUSTOMER}))
STAFF = Principal(6, frozenset({Role.STAFF}))
ADMIN = Principal(7, frozenset({Role.ADMIN}))
NO_ROLES = Principal(8)

type Check = Callable[[Principal], object]


def _outcome(check: Check, principal: Principal) -> tuple[type[DomainError] | None, str]:
    try:
        check(principal)
    except (UnauthenticatedError, ForbiddenError) as error:
        return type(error), str(error)
    return None, ""


_UNAUTHENTICATED = (UnauthenticatedError, "authentication required")
_FORBIDDEN = (ForbiddenError, "not allowed")
_ALLOWED = (None, "")


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        (ANONYMOUS, _UNAUTHENTICATED),
        (NO_ROLES, _ALLOWED),
        (CUSTOMER, _ALLOWED),
        (STAFF, _ALLOWED),
        (ADMIN, _ALLOWED),
    ],
)
def test_require_user_refuses_only_anonymous_callers(
    principal: Principal, expected: tuple[type[DomainError] | None, str]
) -> None:
    assert _outcome(Principal.require_user, principal) == expected


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        (ANONYMOUS, _UNAUTHENTICATED),
        (NO_ROLES, _FORBIDDEN),
        (CUSTOMER, _FORBIDDEN),
        (STAFF, _ALLOWED),
        (ADMIN, _ALLOWED),
    ],
)
def test_require_staff_admits_staff_and_admins(
    principal: Principal, expected: tuple[type[DomainError] | None, str]
) -> None:
    assert _outcome(Principal.require_staff, principal) == expected


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        (ANONYMOUS, _UNAUTHENTICATED),
        (NO_ROLES, _FORBIDDEN),
        (CUSTOMER, _FORBIDDEN),
        (STAFF, _FORBIDDEN),
        (ADMIN, _ALLOWED),
        (Principal.system(), _ALLOWED),
    ],
)
def test_require_admin_admits_only_admins(
    principal: Principal, expected: tuple[type[DomainError] | None, str]
) -> None:
    assert _outcome(Principal.require_admin, principal) == expected


def test_require_user_returns_the_user_id() -> None:
    assert (CUSTOMER.require_user(), Principal.system().require_user()) == (5, 0)


@pytest.mark.parametrize(
    ("principal", "flags"),
    [
        (ANONYMOUS, (False, False, False)),
        (CUSTOMER, (True, False, False)),
        (STAFF, (True, True, False)),
        (ADMIN, (True, True, True)),
        (Principal.system(), (True, True, True)),
    ],
)
def test_principal_flags_follow_the_roles(
    principal: Principal, flags: tuple[bool, bool, bool]
) -> None:
    assert (principal.is_authenticated, principal.is_staff, principal.is_admin) == flags
