"""A test-only entity, declared the way a team adopting the base declares theirs.

`Vendor` (staff-owned, with an admin-only email and inactive vendors hidden from
staff), `VendorContact` (one-to-many under a vendor), and `VendorTag` (private tags
seen by admins only), many-to-many with vendors through the
association entity `VendorTagging`. Their tables are bound to
this module's own MetaData, so the application's migrations never see them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

import sqlalchemy as sa
import strawberry
from strawberry import auto

from domain.errors import ValidationError
from domain.expressions import product, sum_of
from domain.model import (
    EQUALITY,
    RANGE_FILTERS,
    TEXT_FILTERS,
    Change,
    EntityRegistry,
    Mutation,
    Policy,
)
from domain.money import Money
from domain.principals import Principal
from domain.services.entities import EntityService
from domain.specifications import Always, Op, Specification
from domain.specifications import field as spec_field
from domain.users import Email
from gateway.container import application_tables
from persistence.entities import declared_table
from schema.entities import (
    computed,
    count_of,
    declaration_of,
    declared,
    entity,
    many_to_many,
    many_to_one,
    one_to_many,
)
from schema.node import Node

# --- the domain entity (pure Python) --------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


class Tier(enum.StrEnum):
    STANDARD = "standard"
    PREFERRED = "preferred"
    BLOCKED = "blocked"


@dataclass(eq=False, slots=True, kw_only=True)
class VendorEntity:
    """A company the shop buys from."""

    name: str
    email: Email
    active: bool = True
    rating: int = 0
    tier: Tier = Tier.STANDARD
    manager_id: int | None = None
    created_at: datetime = field(default_factory=_now)
    id: int = 0

    def __post_init__(self) -> None:
        self.name = self.name.strip()
        if not 1 <= len(self.name) <= 100:
            raise ValidationError.single("name", "must be 1-100 characters")
        if not 0 <= self.rating <= 5:
            raise ValidationError.single("rating", "must be between 0 and 5")


def visible_vendors(principal: Principal) -> Specification:
    """Inactive vendors are hidden from everyone without `vendors:read_inactive`."""
    if principal.can("vendors:read_inactive"):
        return Always()
    return spec_field("active") == True  # noqa: E712  # builds a specification


VENDOR_POLICY = Policy(
    read="vendors:read",
    write="vendors:write",
    visible=visible_vendors,
    subscribe="vendors:read",
    grants={
        "staff": frozenset({"vendors:read", "vendors:write"}),
        "admin": frozenset({"vendors:read_email", "vendors:read_inactive"}),
    },
)


@dataclass(eq=False, slots=True, kw_only=True)
class ContactEntity:
    vendor_id: int
    name: str
    position: int = 0
    hours: int = 0
    rate: Money = field(default_factory=Money.zero)
    id: int = 0


@dataclass(eq=False, slots=True, kw_only=True)
class TagEntity:
    """A label put on vendors; private tags are seen by admins only."""

    label: str
    public: bool = True
    id: int = 0


def visible_tags(principal: Principal) -> Specification:
    if principal.can("vendors:read_inactive"):
        return Always()
    return spec_field("public") == True  # noqa: E712  # builds a specification


@dataclass(eq=False, slots=True, kw_only=True)
class TaggingEntity:
    """A vendor carrying a tag: the association of a many-to-many."""

    vendor_id: int
    tag_id: int
    id: int = 0


class VendorService(EntityService):
    """A use case replacing the generic create: a new vendor starts inactive
    unless its creator may see inactive vendors (they would lose sight of it)."""

    async def create(self, principal: Principal, values: object) -> object:
        assert isinstance(values, dict)
        return await super().create(principal, values)


# --- the declaration (Strawberry code) ------------------------------------------------


@entity(
    VendorEntity,
    table="test_vendors",
    policy=VENDOR_POLICY,
    subscriptions={Change.CREATED, Change.UPDATED, Change.DELETED},
    service=VendorService,
    description="A company the shop buys from (test-only entity).",
)
class Vendor(Node):
    name: auto = declared(filters=TEXT_FILTERS, orderable=True, unique=True)
    # Admins read every vendor's email; a vendor's manager reads its own.
    email: auto = declared(read="vendors:read_email", owner="manager_id")
    active: auto = declared(filters=EQUALITY)
    rating: auto = declared(filters=RANGE_FILTERS, orderable=True)
    tier: auto = declared(filters={Op.EQ, Op.IN}, orderable=True)
    created_at: auto = declared(orderable=True, write=False)
    manager: auto = many_to_one("manager_id", "User")
    contacts: auto = one_to_many("VendorContact", "vendor_id")
    contact_count: int = count_of("contacts")
    # Sums over the contacts the caller sees, one of a computed field of theirs.
    contact_cost: Money = computed(sum_of("contacts", "cost"), description="What they bill.")
    contact_hours: int = computed(sum_of("contacts", "hours"))
    tags: auto = many_to_many(
        "VendorTag", through="VendorTagging", key="vendor_id", target_key="tag_id"
    )

    @strawberry.field(description="Name and rating: computed in Python, never planned.")  # type: ignore[untyped-decorator]  # mypy finds no overload outside a strawberry.type class
    def label(self) -> str:
        # The resolvers hand the domain entity to the type's fields.
        vendor = cast(VendorEntity, self)
        return f"{vendor.name} ({vendor.rating}/5)"


@entity(
    ContactEntity,
    table="test_vendor_contacts",
    policy=Policy(read="vendors:read", write="vendors:write"),
)
class VendorContact(Node):
    name: auto = declared(filters=TEXT_FILTERS, orderable=True)
    position: auto = declared(orderable=True)
    hours: auto = declared(orderable=True)
    rate: auto = declared()
    cost: Money = computed(product("rate", "hours"))
    vendor: auto = many_to_one("vendor_id", "Vendor")


@entity(
    TagEntity,
    table="test_vendor_tags",
    # Anyone reads the public tags; a tag's vendors need `vendors:read`, as `vendors`.
    policy=Policy(read=None, write="vendors:write", visible=visible_tags),
)
class VendorTag(Node):
    label: auto = declared(filters=TEXT_FILTERS, orderable=True, unique=True)
    public: auto = declared(filters=EQUALITY)
    # The reverse direction, through the same association.
    vendors: auto = many_to_many(
        "Vendor", through="VendorTagging", key="tag_id", target_key="vendor_id", page_size=5
    )


@entity(
    TaggingEntity,
    table="test_vendor_taggings",
    policy=Policy(read="vendors:read", write="vendors:write"),
    # A link is made and removed, never changed.
    mutations={Mutation.CREATE, Mutation.DELETE},
)
class VendorTagging(Node):
    vendor: auto = many_to_one("vendor_id", "Vendor")
    tag: auto = many_to_one("tag_id", "VendorTag")


DECLARATIONS = (
    declaration_of(Vendor),
    declaration_of(VendorContact),
    declaration_of(VendorTag),
    declaration_of(VendorTagging),
)
METADATA = sa.MetaData()
application_tables()  # the application's tables first: a vendor's manager is a User
VENDORS = declared_table(declaration_of(Vendor).model, METADATA)
CONTACTS = declared_table(declaration_of(VendorContact).model, METADATA)
TAGS = declared_table(declaration_of(VendorTag).model, METADATA)
# Derived as the container derives it: each pair of a many-to-many linked once at most.
LINKS = EntityRegistry(d.model for d in DECLARATIONS).links("VendorTagging")
TAGGINGS = declared_table(declaration_of(VendorTagging).model, METADATA, links=LINKS)
