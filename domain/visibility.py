"""Object-level rules shared by the services, written as specifications.

Being specifications, they compile into the SQL of every list query, so a customer's
page of orders is filtered by the database, not after the fact.
"""

from __future__ import annotations

from domain.principals import Principal
from domain.specifications import Always, Specification, field


def visible_orders(principal: Principal) -> Specification:
    """`orders:read` sees every order; a customer their own; anonymous callers none."""
    if principal.can("orders:read"):
        return Always()
    return field("customer_id") == principal.require_user()


def visible_items(principal: Principal) -> Specification:
    """Inactive items are hidden from everyone without `items:read_inactive`."""
    if principal.can("items:read_inactive"):
        return Always()
    return field("active") == True  # noqa: E712  # builds a specification, not a bool


def visible_users(principal: Principal) -> Specification:
    """`users:read` (staff: they serve customers' orders) sees everyone; others themselves."""
    if principal.can("users:read"):
        return Always()
    return field("id") == principal.require_user()
