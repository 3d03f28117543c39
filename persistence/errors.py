"""Translate database errors into domain errors, in one place."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from domain.errors import (
    ConflictError,
    DomainError,
    DuplicateError,
    MissingReferenceError,
    ValidationError,
)

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
# Postgres: a foreign key violation; its DETAIL names the column ("Key (tag_id)=(9) is
# not present in table ...").
_FOREIGN_KEY_SQLSTATE = "23503"
_DETAIL_KEY = re.compile(r"Key \((\w+)\)=")
# Postgres SQLSTATEs for "try again": serialization failure, deadlock, lock timeout.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


def _sqlstate(error: exc.DBAPIError) -> str | None:
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return code if isinstance(code, str) else None


def domain_error_for(
    error: exc.DBAPIError,
    values: Mapping[str, Any] | None = None,
    table: sa.Table | None = None,
) -> DomainError | None:
    """The domain error a database error means, or None if it is not a known conflict.

    `values` are the column values being written, used to name the duplicate value;
    `table` the table written, whose unique constraints and foreign keys name the field
    at fault. No SQL, table or constraint name reaches the error's message.
    """
    message = str(error.orig)
    if isinstance(error, exc.IntegrityError):
        for (constraint, sqlite_name), (kind, field) in _UNIQUE.items():
            if constraint in message or f"UNIQUE constraint failed: {sqlite_name}" in message:
                value = (values or {}).get(field, "")
                return DuplicateError(kind, field, str(value))
        if table is not None and (duplicate := _duplicate(table, message, values)) is not None:
            return duplicate
        for constraint, text in _CHECKS.items():
            if constraint in message:
                return ConflictError(text)
        if _sqlstate(error) == _FOREIGN_KEY_SQLSTATE or "foreign key" in message.lower():
            if _refers_to_missing(error, message):
                return missing_reference(_referring_column(error, message, table))
            return ConflictError("other objects still refer to it; remove them first")
        return ConflictError("the change conflicts with existing data")
    if _sqlstate(error) in _RETRYABLE_SQLSTATES or "database is locked" in message:
        return ConflictError("a concurrent change got in the way; try again")
    if isinstance(error, exc.DataError) or (_sqlstate(error) or "").startswith("22"):
        # SQLSTATE class 22 (a NUL in text, a number past its column): the value, not
        # the database, is at fault. Input validation refuses these first; this is the
        # backstop for any column it does not know.
        return out_of_range()
    return None


def _duplicate(
    table: sa.Table, message: str, values: Mapping[str, Any] | None
) -> DuplicateError | None:
    """The DuplicateError of a unique constraint of `table` (a declared unique attribute,
    or the pair of a many-to-many's association row) that `message` names."""
    for constraint in table.constraints:
        if not isinstance(constraint, sa.UniqueConstraint) or not isinstance(constraint.name, str):
            continue
        columns = list(constraint.columns)
        sqlite = "UNIQUE constraint failed: " + ", ".join(f"{table.name}.{c.name}" for c in columns)
        if f'"{constraint.name}"' not in message and message != sqlite:
            continue
        kind = str(table.info.get("entity", "row")).lower()
        fields = " and ".join(str(c.info.get("attribute", c.name)) for c in columns)
        value = ", ".join(str((values or {}).get(c.name, "")) for c in columns)
        return DuplicateError(kind, fields, value)
    return None


def _refers_to_missing(error: exc.DBAPIError, message: str) -> bool:
    """Whether a foreign key refused a row referring to a missing one (an insert or an
    update of the referring row), not the removal of a row others still refer to."""
    if message.startswith("insert or update on table"):  # Postgres: the referring row
        return True
    if message.startswith("update or delete on table"):  # Postgres: the referred-to row
        return False
    # SQLite says "FOREIGN KEY constraint failed" either way; the statement tells. (Its
    # keys are checked at each statement, never deferred to the commit.)
    verb = (error.statement or "").lstrip()[:6].upper()
    return verb in ("INSERT", "UPDATE")


def _referring_column(
    error: exc.DBAPIError, message: str, table: sa.Table | None
) -> sa.Column[Any] | str | None:
    """The column (or its name) whose reference is missing, when the database says it:
    Postgres names the constraint and the key; SQLite names neither."""
    if table is not None:
        for key in table.foreign_key_constraints:
            if isinstance(key.name, str) and f'"{key.name}"' in message:
                return next(iter(key.columns))
    detail = getattr(error.orig.__cause__, "detail", None) if error.orig is not None else None
    found = _DETAIL_KEY.match(detail) if isinstance(detail, str) else None
    return found.group(1) if found else None


def missing_reference(column: sa.Column[Any] | str | None) -> MissingReferenceError:
    """The error for a reference to a row that does not exist through `column`: named
    by its attribute (and target entity) when the column was derived from a declaration,
    "input" when the database did not say which."""
    if column is None:
        return MissingReferenceError("input")
    if isinstance(column, str):
        return MissingReferenceError(column)
    target = column.info.get("target")
    return MissingReferenceError(
        str(column.info.get("attribute", column.name)), str(target) if target else None
    )


def out_of_range() -> ValidationError:
    """The error for a value the database cannot store (also SQLite's OverflowError)."""
    return ValidationError.single("input", "a value is outside what the database can store")
