"""Translate database errors into domain errors, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import exc

from domain.errors import ConflictError, DomainError, DuplicateError, ValidationError

# (constraint name, its SQLite spelling) -> (kind, field) of the duplicate.
_UNIQUE = {
    ("uq_users_email", "users.email"): ("user", "email"),
    ("uq_items_sku", "items.sku"): ("item", "sku"),
}
_CHECKS = {
    "ck_items_stock_nonnegative": "item stock cannot go below zero",
    "ck_items_price_nonnegative": "item price cannot be negative",
    "ck_order_lines_quantity_positive": "an order line needs a positive quantity",
    "ck_orders_status": "unknown order status",
    "ck_users_email_lower_case": "emails are stored lower-case",
}
# Postgres SQLSTATEs for "try again": serialization failure, deadlock, lock timeout.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


def _sqlstate(error: exc.DBAPIError) -> str | None:
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return code if isinstance(code, str) else None


def domain_error_for(
    error: exc.DBAPIError, values: Mapping[str, Any] | None = None
) -> DomainError | None:
    """The domain error a database error means, or None if it is not a known conflict.

    `values` are the column values being written, used to name the duplicate value.
    """
    message = str(error.orig)
    if isinstance(error, exc.IntegrityError):
        for (constraint, sqlite_name), (kind, field) in _UNIQUE.items():
            if constraint in message or f"UNIQUE constraint failed: {sqlite_name}" in message:
                value = (values or {}).get(field, "")
                return DuplicateError(kind, field, str(value))
        for constraint, text in _CHECKS.items():
            if constraint in message:
                return ConflictError(text)
        if "foreign key" in message.lower():
            return ConflictError("the change refers to a row that does not exist or is in use")
        return ConflictError("the change conflicts with existing data")
    if _sqlstate(error) in _RETRYABLE_SQLSTATES or "database is locked" in message:
        return ConflictError("a concurrent change got in the way; try again")
    if isinstance(error, exc.DataError) or (_sqlstate(error) or "").startswith("22"):
        # SQLSTATE class 22 (a NUL in text, a number past its column): the value, not
        # the database, is at fault. Input validation refuses these first; this is the
        # backstop for any column it does not know.
        return out_of_range()
    return None


def out_of_range() -> ValidationError:
    """The error for a value the database cannot store (also SQLite's OverflowError)."""
    return ValidationError.single("input", "a value is outside what the database can store")
