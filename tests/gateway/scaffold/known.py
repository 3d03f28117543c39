"""A project as the scaffold sees it, for tests that need no real one."""

from __future__ import annotations

from gateway.scaffold.spec import Known

KNOWN = Known(
    entities=frozenset({"User", "Item", "Order"}),
    types=frozenset({"User", "Item", "Order", "Money", "ItemConnection", "PageInfo"}),
    tables=frozenset({"users", "items", "orders", "order_lines"}),
    roles=frozenset({"customer", "staff", "admin"}),
    node_fields=frozenset({"id"}),
    entity_tables={"User": "users", "Item": "items", "Order": "orders"},
)
