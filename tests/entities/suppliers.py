"""A test-only entity, declared the way a team adopting the base declares theirs.

`Supplier` (staff-owned, with an admin-only email and inactive suppliers hidden from
staff) and `SupplierContact` (one-to-many under a supplier). Their tables are bound to
this module's own MetaData, so the application's migrations never see them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from strawberry import auto

from domain.errors import ValidationError
from domain.model import EQUALITY, RANGE_FILTERS, TEXT_FILTERS, Change, Policy
from domain.principals import Principal
from domain.services.entities import EntityService
from domain.specifications import Always, Specification
from domain.specifications import field as spec_field
from domain.users import Email
from persistence.entities import declared_table
from schema.entities import declaration_of, declared, entity, many_to_one, one_to_many
from schema.node import Node

# --- the domain entity (pure Python) --------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(eq=False, slots=True, kw_only=True)
class SupplierEntity:
    """A company the shop buys from."""

    name: str
    email: Email
    active: bool = True
    rating: int = 0
    manager_id: int | None = None
    created_at: datetime = field(default_factory=_now)
    id: int = 0

    def __post_init__(self) -> None:
        self.name = self.name.strip()
        if not 1 <= len(self.name) <= 100:
            raise ValidationError.single("name", "must be 1-100 characters")
        if not 0 <= self.rating <= 5:
            raise ValidationError.single("rating", "must be between 0 and 5")


def visible_suppliers(principal: Principal) -> Specification:
    """Inactive suppliers are hidden from everyone without `suppliers:read_inactive`."""
    if principal.can("suppliers:read_inactive"):
        return Always()
    return spec_field("active") == True  # noqa: E712  # builds a specification


SUPPLIER_POLICY = Policy(
    read="suppliers:read",
    write="suppliers:write",
    visible=visible_suppliers,
    subscribe="suppliers:read",
    grants={
        "staff": frozenset({"suppliers:read", "suppliers:write"}),
        "admin": frozenset({"suppliers:read_email", "suppliers:read_inactive"}),
    },
)


@dataclass(eq=False, slots=True, kw_only=True)
class ContactEntity:
    supplier_id: int
    name: str
    position: int = 0
    id: int = 0


class SupplierService(EntityService):
    """A use case replacing the generic create: a new supplier starts inactive
    unless its creator may see inactive suppliers (they would lose sight of it)."""

    async def create(self, principal: Principal, values: object) -> object:
        assert isinstance(values, dict)
        return await super().create(principal, values)


# --- the declaration (Strawberry code) ------------------------------------------------


@entity(
    SupplierEntity,
    table="test_suppliers",
    policy=SUPPLIER_POLICY,
    subscriptions={Change.CREATED, Change.UPDATED, Change.DELETED},
    service=SupplierService,
    description="A company the shop buys from (test-only entity).",
)
class Supplier(Node):
    name: auto = declared(filters=TEXT_FILTERS, orderable=True, unique=True)
    email: auto = declared(read="suppliers:read_email")
    active: auto = declared(filters=EQUALITY)
    rating: auto = declared(filters=RANGE_FILTERS, orderable=True)
    created_at: auto = declared(orderable=True, write=False)
    manager: auto = many_to_one("manager_id", "User")
    contacts: auto = one_to_many("SupplierContact", "supplier_id")


@entity(
    ContactEntity,
    table="test_supplier_contacts",
    policy=Policy(read="suppliers:read", write="suppliers:write"),
)
class SupplierContact(Node):
    name: auto = declared(filters=TEXT_FILTERS, orderable=True)
    position: auto = declared(orderable=True)
    supplier: auto = many_to_one("supplier_id", "Supplier")


METADATA = sa.MetaData()
SUPPLIERS = declared_table(declaration_of(Supplier).model, METADATA)
CONTACTS = declared_table(declaration_of(SupplierContact).model, METADATA)
DECLARATIONS = (declaration_of(Supplier), declaration_of(SupplierContact))
