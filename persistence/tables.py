"""SQLModel tables and the mapping between their rows and domain entities.

Repositories work with Core statements over these tables (`users`, `items`, ...) and
map result rows with the `*_from_row` / `*_values` functions below, so no ORM
identity map can serve a stale object after an UPDATE in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

from domain import items, orders, users
from domain.money import Money

# Constraint and index names follow from the table and columns, so a migration can name
# what it drops or alters (SQLite's batch mode must) and every database gets the same
# names. Set before any table is defined: SQLAlchemy names a constraint when it is
# attached. A check constraint gives only its own short name (`stock_nonnegative`).
# Primary keys keep each database's default (`users_pkey` on Postgres).
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no timezone type: values are stored as naive UTC text (which sorts
    correctly) and come back tagged as UTC again.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _text(length: int) -> sa.types.TypeEngine[str]:
    # Byte-order ("C") collation on Postgres so comparisons and ORDER BY agree with
    # Python's code-point order, as SQLite's default BINARY collation already does.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


text_type = _text


def _now() -> datetime:
    return datetime.now(UTC)


# SQLite reuses the highest rowid after a delete unless told otherwise; a deleted item's
# id must never come back as another item.
_NO_ID_REUSE = {"sqlite_autoincrement": True}

ORDER_STATUSES = tuple(status.value for status in orders.OrderStatus)


class UserRow(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        sa.UniqueConstraint("email", name="uq_users_email"),
        sa.CheckConstraint("email = lower(email)", name="email_lower_case"),
        _NO_ID_REUSE,
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_type=_text(254), nullable=False)
    name: str = Field(sa_type=_text(200), nullable=False)
    roles: str = Field(sa_type=sa.String(100), nullable=False)
    password_hash: str | None = Field(default=None, sa_type=sa.String(500), nullable=True)
    active: bool = Field(default=True, nullable=False)
    created_at: datetime = Field(default_factory=_now, sa_type=UtcDateTime, nullable=False)


class ItemRow(SQLModel, table=True):
    __tablename__ = "items"
    __table_args__ = (
        sa.UniqueConstraint("sku", name="uq_items_sku"),
        sa.CheckConstraint("stock >= 0", name="stock_nonnegative"),
        sa.CheckConstraint("price_cents >= 0", name="price_nonnegative"),
        _NO_ID_REUSE,
    )

    id: int | None = Field(default=None, primary_key=True)
    sku: str = Field(sa_type=_text(40), nullable=False)
    name: str = Field(sa_type=_text(200), nullable=False)
    description: str = Field(default="", sa_type=sa.Text, nullable=False)
    price_cents: int = Field(sa_type=sa.BigInteger, nullable=False)
    currency: str = Field(sa_type=sa.CHAR(3), nullable=False)
    stock: int = Field(default=0, nullable=False)
    active: bool = Field(default=True, nullable=False)
    created_at: datetime = Field(default_factory=_now, sa_type=UtcDateTime, nullable=False)


class OrderRow(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        sa.Index("ix_orders_customer_id_id", "customer_id", "id"),
        # The orders' sort fields, as a declared entity's get theirs (persistence.entities).
        sa.Index("ix_orders_created_at_id", "created_at", "id"),
        sa.Index("ix_orders_status_id", "status", "id"),
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in ORDER_STATUSES) + ")",
            name="status",
        ),
        _NO_ID_REUSE,
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(
        sa_column_args=[sa.ForeignKey("users.id", name="fk_orders_customer_id_users")],
        nullable=False,
    )
    status: str = Field(sa_type=_text(20), nullable=False)
    created_at: datetime = Field(default_factory=_now, sa_type=UtcDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=_now, sa_type=UtcDateTime, nullable=False)


class OrderLineRow(SQLModel, table=True):
    __tablename__ = "order_lines"
    __table_args__ = (
        sa.Index("ix_order_lines_order_id", "order_id"),
        sa.Index("ix_order_lines_item_id", "item_id"),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        _NO_ID_REUSE,
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(
        sa_column_args=[
            sa.ForeignKey("orders.id", name="fk_order_lines_order_id_orders", ondelete="CASCADE")
        ],
        nullable=False,
    )
    item_id: int = Field(
        sa_column_args=[sa.ForeignKey("items.id", name="fk_order_lines_item_id_items")],
        nullable=False,
    )
    quantity: int = Field(nullable=False)
    unit_price_cents: int = Field(sa_type=sa.BigInteger, nullable=False)
    currency: str = Field(sa_type=sa.CHAR(3), nullable=False)


class RevocationRow(SQLModel, table=True):
    """A revoked token (`jti`), session (`fam`), user cutoff (`user`) or used refresh
    token (`used`), kept until `expires_at`, when the token it names would be dead anyway.

    The source of truth for revocations: each replica keeps a copy in memory and reads
    rows changed since its last look (`revoked_at`), so the hot path asks nobody.
    """

    __tablename__ = "revocations"
    __table_args__ = (
        sa.Index("ix_revocations_revoked_at", "revoked_at"),
        sa.Index("ix_revocations_expires_at", "expires_at"),
    )

    kind: str = Field(sa_type=sa.String(8), primary_key=True)
    key: str = Field(sa_type=sa.String(200), primary_key=True)
    # `user` rows: tokens of the user issued before this instant are dead.
    cutoff: datetime | None = Field(default=None, sa_type=UtcDateTime, nullable=True)
    expires_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    revoked_at: datetime = Field(sa_type=UtcDateTime, nullable=False)


class DemoSeedRow(SQLModel, table=True):
    """The marker `gateway seed` leaves with its data: what it wrote, from which seed.

    `gateway seed --once` looks for it rather than for empty tables, so a user who
    registered before seeding neither blocks the demo data nor gets it twice.
    """

    __tablename__ = "demo_seed"

    id: int | None = Field(default=None, primary_key=True)
    seed: int = Field(nullable=False)
    users: int = Field(nullable=False)
    items: int = Field(nullable=False)
    orders: int = Field(nullable=False)
    seeded_at: datetime = Field(default_factory=_now, sa_type=UtcDateTime, nullable=False)


class OutboxRow(SQLModel, table=True):
    """A domain event written in the transaction of its change, until the relay publishes it.

    `id` orders the relay's reading; published rows stay `EVENTS__OUTBOX_RETENTION_HOURS`.
    """

    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_published_at_id", "published_at", "id"),)

    id: int | None = Field(
        default=None,
        primary_key=True,
        # 64 bits on Postgres; SQLite numbers only an INTEGER PRIMARY KEY by itself.
        sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
    )
    event_id: str = Field(sa_type=sa.String(32), nullable=False, unique=True)
    event_type: str = Field(sa_type=sa.String(100), nullable=False)
    aggregate: str = Field(sa_type=sa.String(200), nullable=False)
    payload: str = Field(sa_type=sa.Text, nullable=False)
    occurred_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    published_at: datetime | None = Field(default=None, sa_type=UtcDateTime, nullable=True)
    # A delayed job's: not published before it.
    deliver_after: datetime | None = Field(default=None, sa_type=UtcDateTime, nullable=True)


class AuditRow(SQLModel, table=True):
    """One audit record: a change or a security event, written in its change's transaction.

    Kept `AUDIT__RETENTION_DAYS`. No foreign keys: the trail outlives what it names (a
    deleted user's changes stay readable).
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        sa.Index("ix_audit_log_entity_type_entity_id_id", "entity_type", "entity_id", "id"),
        sa.Index("ix_audit_log_actor_id_id", "actor_id", "id"),
        sa.Index("ix_audit_log_occurred_at", "occurred_at"),
        # Ids order the pages: one must never come back after a purge emptied the table.
        _NO_ID_REUSE,
    )

    id: int | None = Field(
        default=None,
        primary_key=True,
        sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),  # see OutboxRow
    )
    occurred_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    actor_id: int | None = Field(default=None, sa_type=sa.BigInteger, nullable=True)
    request_id: str | None = Field(default=None, sa_type=sa.String(128), nullable=True)
    client_ip: str | None = Field(default=None, sa_type=sa.String(64), nullable=True)
    action: str = Field(sa_type=sa.String(32), nullable=False)
    entity_type: str = Field(sa_type=sa.String(100), nullable=False)
    entity_id: int | None = Field(default=None, sa_type=sa.BigInteger, nullable=True)
    before: str | None = Field(default=None, sa_type=sa.Text, nullable=True)
    after: str | None = Field(default=None, sa_type=sa.Text, nullable=True)


def table_of(row_type: type[SQLModel]) -> sa.Table:
    """The Core table behind a SQLModel table class."""
    table = row_type.__table__  # type: ignore[attr-defined]  # set by SQLModel's metaclass
    assert isinstance(table, sa.Table)
    return table


USERS = table_of(UserRow)
ITEMS = table_of(ItemRow)
ORDERS = table_of(OrderRow)
ORDER_LINES = table_of(OrderLineRow)
REVOCATIONS = table_of(RevocationRow)
DEMO_SEED = table_of(DemoSeedRow)
OUTBOX = table_of(OutboxRow)
AUDIT_LOG = table_of(AuditRow)
METADATA = SQLModel.metadata


# --- users -------------------------------------------------------------------------


def encode_roles(roles: frozenset[users.Role]) -> str:
    return ",".join(sorted(role.value for role in roles))


def decode_roles(text: str) -> frozenset[users.Role]:
    return frozenset(users.Role(part) for part in text.split(",") if part)


def user_values(user: users.User) -> dict[str, Any]:
    return {
        "email": user.email.value,
        "name": user.name,
        "roles": encode_roles(user.roles),
        "password_hash": user.password_hash,
        "active": user.active,
        "created_at": user.created_at,
    }


def user_from_row(row: sa.RowMapping) -> users.User:
    return users.User(
        id=row["id"],
        email=users.Email(row["email"]),
        name=row["name"],
        roles=decode_roles(row["roles"]),
        password_hash=row["password_hash"],
        active=row["active"],
        created_at=row["created_at"],
    )


# --- items -------------------------------------------------------------------------


def item_values(item: items.Item) -> dict[str, Any]:
    return {
        "sku": item.sku,
        "name": item.name,
        "description": item.description,
        "price_cents": item.price.cents,
        "currency": item.price.currency,
        "stock": item.stock,
        "active": item.active,
        "created_at": item.created_at,
    }


def item_from_row(row: sa.RowMapping) -> items.Item:
    return items.Item(
        id=row["id"],
        sku=row["sku"],
        name=row["name"],
        description=row["description"],
        price=Money(row["price_cents"], row["currency"]),
        stock=row["stock"],
        active=row["active"],
        created_at=row["created_at"],
    )


# --- orders ------------------------------------------------------------------------


def order_values(order: orders.Order) -> dict[str, Any]:
    return {
        "customer_id": order.customer_id,
        "status": order.status.value,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }


def line_values(order_id: int, line: orders.OrderLine) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "item_id": line.item_id,
        "quantity": line.quantity,
        "unit_price_cents": line.unit_price.cents,
        "currency": line.unit_price.currency,
    }


def line_from_row(row: Mapping[Any, Any]) -> orders.OrderLine:
    return orders.OrderLine(
        id=row["id"],
        item_id=row["item_id"],
        quantity=row["quantity"],
        unit_price=Money(row["unit_price_cents"], row["currency"]),
    )


def order_from_row(row: Mapping[Any, Any], lines: tuple[orders.OrderLine, ...]) -> orders.Order:
    return orders.Order(
        id=row["id"],
        customer_id=row["customer_id"],
        status=orders.OrderStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        lines=lines,
    )
