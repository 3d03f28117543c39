"""Users and their identity: the Email value object and roles."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from domain.errors import ValidationError

# Deliberately modest: one @, a dot in the domain, no spaces. Deliverability is
# proven by sending mail, not by a regular expression.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_MAX_NAME = 200


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Email:
    """A normalised email address; equality ignores case."""

    value: str

    def __post_init__(self) -> None:
        normalised = self.value.strip().lower()
        if len(normalised) > 254 or not _EMAIL.match(normalised):
            raise ValidationError.single("email", "is not a valid email address")
        object.__setattr__(self, "value", normalised)

    def __str__(self) -> str:
        return self.value

    def masked(self) -> str:
        local, _, domain = self.value.partition("@")
        return f"{local[:1]}***@{domain}"


def check_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned:
        raise ValidationError.single("name", "must not be empty")
    if len(cleaned) > _MAX_NAME:
        raise ValidationError.single("name", f"must be at most {_MAX_NAME} characters")
    return cleaned


@dataclass(eq=False, slots=True, kw_only=True)
class User:
    """An account. `id` is 0 until the repository stores it."""

    email: Email
    name: str
    roles: frozenset[Role] = frozenset({Role.CUSTOMER})
    active: bool = True
    password_hash: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    id: int = 0

    def __post_init__(self) -> None:
        self.name = check_name(self.name)
        if not self.roles:
            raise ValidationError.single("roles", "a user needs at least one role")

    def has_role(self, role: Role) -> bool:
        return role in self.roles
