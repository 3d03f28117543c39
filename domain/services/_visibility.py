"""Object-level rules shared by the services, written as specifications.

Being specifications, they compile into the SQL of every list query, so a customer's
page of orders is filtered by the database, not after the fact.
"""

from __future__ import annotations

from domain.principals import Principal
from domain.specifications import Always, Specification, field


def visible_orders(principal: Principal) -> Specification:
    """Staff see every order; a customer sees their own; anonymous callers see none."""
    if principal.is_staff:
        return Always()
    return field("customer_id") == principal.require_user()


def visible_items(principal: Principal) -> Specification:
    """Inactive items are hidden from everyone but staff."""
    if principal.is_staff:
        return Always()
    return field("active") == True  # noqa: E712  # builds a specification, not a bool


def visible_users(principal: Principal) -> Specification:
    """Staff see every user (they serve customers' orders); others only themselves."""
    if principal.is_staff:
        return Always()
    return field("id") == principal.require_user()
