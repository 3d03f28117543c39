"""Passwords: the policy a new password must meet, and the hashing port."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from domain.errors import FieldProblem, ValidationError
from domain.users import Email

FIELD = "password"


class CharClass(enum.StrEnum):
    LOWER = "lowercase letters"
    UPPER = "uppercase letters"
    DIGIT = "digits"
    SYMBOL = "symbols"


ALL_CLASSES = frozenset(CharClass)


def char_classes(password: str) -> frozenset[CharClass]:
    """The classes present; a symbol is any character that is neither a letter nor a digit."""
    found: set[CharClass] = set()
    for char in password:
        if char.islower():
            found.add(CharClass.LOWER)
        elif char.isupper():
            found.add(CharClass.UPPER)
        elif char.isdigit():
            found.add(CharClass.DIGIT)
        elif not char.isalnum():
            found.add(CharClass.SYMBOL)
    return frozenset(found)


def longest_run(password: str) -> int:
    """Length of the longest run of one repeated character."""
    longest = run = 0
    previous: str | None = None
    for char in password:
        run = run + 1 if char == previous else 1
        previous = char
        longest = max(longest, run)
    return longest


def _ordered(classes: Iterable[CharClass]) -> list[CharClass]:
    return [c for c in CharClass if c in set(classes)]


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordPolicy:
    """Rules for a new password; `check` reports every unmet rule at once.

    `required_classes` must all be present; on top of that, at least `min_classes` of
    the four classes must be. A local part shorter than `min_email_fragment` is not
    checked, since refusing every password containing "a" for a@x.org helps nobody.
    """

    min_length: int = 12
    max_length: int = 256
    min_classes: int = 3
    required_classes: frozenset[CharClass] = frozenset()
    max_run: int = 3
    forbid_email: bool = True
    min_email_fragment: int = 3

    def __post_init__(self) -> None:
        if self.min_length < 1 or self.max_length < self.min_length:
            raise ValueError("password policy needs 1 <= min_length <= max_length")
        if not 0 <= self.min_classes <= len(CharClass):
            raise ValueError(f"password policy min_classes must be 0..{len(CharClass)}")
        if self.max_run < 1:
            raise ValueError("password policy max_run must be at least 1")

    def problems(self, password: str, *, email: Email | None = None) -> list[FieldProblem]:
        """Every rule `password` breaks, in a stable order; empty when it is acceptable."""
        messages: list[str] = []
        if len(password) < self.min_length:
            messages.append(f"must be at least {self.min_length} characters long")
        if len(password) > self.max_length:
            messages.append(f"must be at most {self.max_length} characters long")
        present = char_classes(password)
        messages.extend(
            f"must contain {cls.value}" for cls in _ordered(self.required_classes - present)
        )
        if len(present) < self.min_classes:
            names = ", ".join(c.value for c in CharClass)
            messages.append(f"must contain at least {self.min_classes} of: {names}")
        if longest_run(password) > self.max_run:
            messages.append(f"must not repeat a character more than {self.max_run} times in a row")
        if self.forbid_email and email is not None:
            local = email.value.partition("@")[0].casefold()
            if len(local) >= self.min_email_fragment and local in password.casefold():
                messages.append("must not contain the email address")
        return [FieldProblem(FIELD, message) for message in messages]

    def check(self, password: str, *, email: Email | None) -> None:
        """Raises ValidationError listing every unmet rule (field "password")."""
        problems = self.problems(password, email=email)
        if problems:
            raise ValidationError(problems)


class PasswordHasher(Protocol):
    """Slow, salted password hashing (argon2id in production)."""

    async def hash(self, password: str) -> str:
        """A self-describing hash (algorithm, parameters, salt) of `password`."""
        ...

    async def verify(self, hash: str, password: str) -> bool:
        """Whether `password` matches `hash`; False (never an error) for a malformed hash."""
        ...

    def needs_rehash(self, hash: str) -> bool:
        """Whether `hash` was made with other parameters than the current ones."""
        ...
