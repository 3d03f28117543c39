from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import FieldProblem, ValidationError
from domain.passwords import CharClass, PasswordPolicy, char_classes, longest_run
from domain.users import Email

POLICY = PasswordPolicy()
ALICE = Email("Alice.Smith@example.org")

LENGTH = FieldProblem("password", "must be at least 12 characters long")
TOO_LONG = FieldProblem("password", "must be at most 256 characters long")
CLASSES = FieldProblem(
    "password",
    "must contain at least 3 of: lowercase letters, uppercase letters, digits, symbols",
)
RUN = FieldProblem("password", "must not repeat a character more than 3 times in a row")
EMAIL = FieldProblem("password", "must not contain the email address")


def _problems(
    policy: PasswordPolicy, password: str, email: Email | None = None
) -> list[FieldProblem]:
    with pytest.raises(ValidationError) as caught:
        policy.check(password, email=email)
    return caught.value.problems


def test_a_strong_password_passes() -> None:
    POLICY.check("correct-Horse-battery9", email=ALICE)  # raises if refused
    assert POLICY.problems("correct-Horse-battery9", email=ALICE) == []


def test_defaults_are_twelve_to_256_characters_and_three_of_four_classes() -> None:
    assert PasswordPolicy() == PasswordPolicy(
        min_length=12,
        max_length=256,
        min_classes=3,
        required_classes=frozenset(),
        max_run=3,
        forbid_email=True,
        min_email_fragment=3,
    )


def test_every_unmet_rule_is_listed_at_once() -> None:
    assert _problems(POLICY, "aaaa-bob", Email("bob@example.org")) == [LENGTH, CLASSES, RUN, EMAIL]


def test_too_long_is_refused() -> None:
    assert _problems(POLICY, "Ab1-" * 65) == [TOO_LONG]


def test_exactly_the_bounds_are_accepted() -> None:
    assert POLICY.problems("Ab1-Ab1-Ab1-") == []
    assert POLICY.problems("Ab1-" * 64) == []


def test_two_classes_are_not_enough_by_default() -> None:
    assert _problems(POLICY, "abcdefgh1234") == [CLASSES]


def test_a_run_of_three_is_allowed_and_four_is_not() -> None:
    assert POLICY.problems("xAAAx-1bcdef") == []
    assert _problems(POLICY, "xAAAAx-1bcde") == [RUN]


def test_the_email_local_part_is_refused_whatever_its_case() -> None:
    assert _problems(POLICY, "My-ALICE.SMITH-pw1", ALICE) == [EMAIL]
    assert POLICY.problems("My-ALICE.SMITH-pw1", email=None) == []


def test_a_very_short_local_part_is_not_checked() -> None:
    assert POLICY.problems("Password-a1xyz", email=Email("a@example.org")) == []


def test_required_classes_are_each_named() -> None:
    policy = PasswordPolicy(
        min_classes=0, required_classes=frozenset({CharClass.SYMBOL, CharClass.DIGIT})
    )
    assert _problems(policy, "abcdefghijkl") == [
        FieldProblem("password", "must contain digits"),
        FieldProblem("password", "must contain symbols"),
    ]
    assert policy.problems("abcdefghij1!") == []


def test_the_error_message_joins_every_problem() -> None:
    with pytest.raises(ValidationError) as caught:
        POLICY.check("short", email=None)
    assert str(caught.value) == (
        "password: must be at least 12 characters long; "
        "password: must contain at least 3 of: lowercase letters, uppercase letters, "
        "digits, symbols"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_length": 0},
        {"min_length": 20, "max_length": 10},
        {"min_classes": 5},
        {"min_classes": -1},
        {"max_run": 0},
    ],
)
def test_a_nonsensical_policy_is_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="password policy"):
        PasswordPolicy(**kwargs)  # type: ignore[arg-type]  # ints for int fields; mypy cannot see it


def test_character_classes_are_recognised() -> None:
    assert char_classes("aB3 ") == frozenset(CharClass)
    assert char_classes("äÉ٣") == frozenset({CharClass.LOWER, CharClass.UPPER, CharClass.DIGIT})
    assert char_classes("") == frozenset()


@given(st.text(max_size=40))
def test_longest_run_matches_a_naive_count(password: str) -> None:
    naive = max(
        (
            j - i
            for i in range(len(password))
            for j in range(i + 1, len(password) + 1)
            if len(set(password[i:j])) == 1
        ),
        default=0,
    )
    assert longest_run(password) == naive


@given(st.text(max_size=300))
def test_check_raises_exactly_when_there_are_problems(password: str) -> None:
    problems = POLICY.problems(password, email=ALICE)
    if problems:
        assert _problems(POLICY, password, ALICE) == problems
    else:
        POLICY.check(password, email=ALICE)  # raises if refused
        assert POLICY.min_length <= len(password) <= POLICY.max_length
        assert len(char_classes(password)) >= 3
        assert longest_run(password) <= 3
        assert "alice.smith" not in password.casefold()
