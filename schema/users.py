"""The account roles as GraphQL names them (the `User` type is declared in
`schema/declarations/users.py`)."""

from __future__ import annotations

import enum

import strawberry


@strawberry.enum
class Role(enum.Enum):
    CUSTOMER = "customer"
    STAFF = "staff"
    ADMIN = "admin"
