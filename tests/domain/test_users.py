from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import FieldProblem, ValidationError
from domain.users import Email, Role, User, check_name

_INVALID = [FieldProblem("email", "is not a valid email address")]


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("Ann@Example.COM", "ann@example.com"),
        ("  bob@example.org\n", "bob@example.org"),
        ("\tC.D+tag@Sub.Example.io ", "c.d+tag@sub.example.io"),
    ],
)
def test_email_is_normalised_to_lower_case_without_surrounding_space(
    raw: str, normalised: str
) -> None:
    assert (Email(raw).value, str(Email(raw))) == (normalised, normalised)


def test_emails_differing_only_in_case_are_equal() -> None:
    assert Email("ANN@example.com") == Email("ann@EXAMPLE.com")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "ann",
        "ann@",
        "@example.com",
        "ann@example",
        "ann@example.c",
        "ann@@example.com",
        "a@b@example.com",
        "ann smith@example.com",
        "ann@exa mple.com",
        "ann@example.com\nX",
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
    ],
)
def test_garbage_is_not_an_email(raw: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Email(raw)
    assert caught.value.problems == _INVALID


def test_an_email_of_254_characters_is_accepted() -> None:
    raw = "a@" + "b" * 248 + ".com"
    assert Email(raw).value == raw


def _parse(raw: str) -> Email | list[FieldProblem]:
    try:
        return Email(raw)
    except ValidationError as error:
        return error.problems


@given(st.text())
def test_any_text_is_an_email_or_a_validation_error_on_email(raw: str) -> None:
    outcome = _parse(raw)
    if isinstance(outcome, Email):
        value = outcome.value
        assert (value, value.count("@")) == (value.strip().lower(), 1)
    else:
        assert outcome == _INVALID


@given(
    st.from_regex(r"[a-z0-9._+-]{1,20}", fullmatch=True),
    st.from_regex(r"[a-z0-9-]{1,20}\.[a-z]{2,6}", fullmatch=True),
)
def test_well_formed_addresses_survive_normalisation(local: str, domain: str) -> None:
    assert Email(f" {local.upper()}@{domain.upper()} ").value == f"{local}@{domain}"


@pytest.mark.parametrize(
    ("raw", "masked"),
    [("ann@example.com", "a***@example.com"), ("Z@x.io", "z***@x.io")],
)
def test_masking_keeps_the_first_letter_and_the_domain(raw: str, masked: str) -> None:
    assert Email(raw).masked() == masked


def test_a_user_name_is_stripped_and_customer_is_the_default_role() -> None:
    user = User(email=Email("ann@example.com"), name="  Ann  ")
    assert (user.name, user.roles, user.has_role(Role.CUSTOMER), user.has_role(Role.ADMIN)) == (
        "Ann",
        frozenset({Role.CUSTOMER}),
        True,
        False,
    )


def test_a_user_without_roles_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        User(email=Email("ann@example.com"), name="Ann", roles=frozenset())
    assert caught.value.problems == [FieldProblem("roles", "a user needs at least one role")]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("  ", FieldProblem("name", "must not be empty")),
        ("n" * 201, FieldProblem("name", "must be at most 200 characters")),
    ],
)
def test_a_bad_user_name_is_refused(name: str, problem: FieldProblem) -> None:
    with pytest.raises(ValidationError) as caught:
        check_name(name)
    assert caught.value.problems == [problem]
