"""Deterministic demo data, bulk-inserted: the same seed always gives the same database.

Rows are written with executemany-style Core inserts in chunks and explicit ids, so
1,000 users, 500 items and 10,000 orders take seconds. Ids follow whatever the tables
already hold (a user who registered before seeding keeps id 1), and a `demo_seed` row
marks the data as the seed's: seeding again is refused by that marker.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.errors import ConflictError, ValidationError
from domain.orders import OrderStatus
from domain.users import Role
from persistence import tables
from persistence.tables import encode_roles
from persistence.unit_of_work import SqlUnitOfWorkFactory

type Progress = Callable[[str, int, int], None]

ADMIN_EMAIL = "admin@example.com"
# The documented demo credential (meets the default policy: 12+ chars, 3 classes);
# only its hash is stored, and only when the caller supplies a hasher or a hash.
DEMO_PASSWORD = "Demo-Password-2026"  # noqa: S105  # public demo credential, by design
# A fixed clock keeps the data identical from run to run.
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
CHUNK = 2_000

_FIRST = ["Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia"]
_FIRST += ["Linus", "Margaret", "Dennis", "Katherine", "John", "Hedy", "Tim", "Annie", "Guido"]
_LAST = ["Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
_LAST += ["Perlman", "Torvalds", "Hamilton", "Ritchie", "Johnson", "Backus", "Lamarr", "Lee"]
_ADJECTIVES = ["Compact", "Deluxe", "Eco", "Heavy", "Light", "Mini", "Pro", "Smart", "Ultra"]
_NOUNS = ["Widget", "Gadget", "Sprocket", "Lamp", "Kettle", "Bottle", "Backpack", "Cable"]
_NOUNS += ["Charger", "Notebook", "Pen", "Mug", "Speaker", "Keyboard", "Mouse", "Tripod"]
# paid 35%, shipped 25%, delivered 25%, cancelled 15%. None is left placed: every seeded
# order is from before EPOCH, long past JOBS__UNPAID_ORDER_MINUTES, so the unpaid-order
# job would cancel a placed one at the first start and the data would change under the
# README's examples; an order never paid is seeded as the job leaves it, cancelled.
_STATUSES_ALL = [
    OrderStatus.PAID,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
    OrderStatus.CANCELLED,
]
_WEIGHTS_ALL = [35, 25, 25, 15]


class AlreadySeededError(ConflictError):
    def __init__(self, seed: int, seeded_at: datetime) -> None:
        super().__init__(f"the demo data is already there (seed {seed})")
        self.seed, self.seeded_at = seed, seeded_at


class DemoEmailTakenError(ConflictError):
    def __init__(self, email: str) -> None:
        super().__init__(f"{email} is already registered: the demo data needs its emails free")
        self.email = email


@dataclass(frozen=True, slots=True)
class SeedSummary:
    users: int
    staff: int
    customers: int
    items: int
    orders: int
    lines: int
    admin_email: str
    seed: int


@dataclass(slots=True)
class _Plan:
    users: list[dict[str, Any]]
    items: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    lines: list[dict[str, Any]]
    staff: int


def _plan(
    rng: random.Random, *, users: int, items: int, orders: int, password_hash: str | None
) -> _Plan:
    staff = min(5, max(0, users - 1) // 50 + (1 if users > 1 else 0))
    user_rows: list[dict[str, Any]] = []
    for n in range(1, users + 1):
        if n == 1:
            email, roles = ADMIN_EMAIL, frozenset({Role.ADMIN, Role.STAFF})
        elif n <= 1 + staff:
            email, roles = f"staff{n - 1}@example.com", frozenset({Role.STAFF})
        else:
            email, roles = f"user{n}@example.com", frozenset({Role.CUSTOMER})
        user_rows.append(
            {
                "id": n,
                "email": email,
                "name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                "roles": encode_roles(roles),
                "password_hash": password_hash,
                "active": n <= 1 + staff or rng.random() > 0.02,
                "created_at": EPOCH - timedelta(days=400, minutes=rng.randrange(60 * 24 * 30)),
            }
        )
    item_rows: list[dict[str, Any]] = []
    for n in range(1, items + 1):
        item_rows.append(
            {
                "id": n,
                "sku": f"ITEM-{n:04d}",
                "name": f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {n}",
                "description": f"A demo {rng.choice(_NOUNS).lower()} for testing.",
                "price_cents": rng.randrange(199, 50_000),
                "currency": "USD",
                # What is left after the seeded orders (which took theirs before): the
                # orders never run short, and one item in twenty is sold out to filter on.
                "stock": 0 if rng.random() < 0.05 else rng.randrange(200, 800),
                "active": rng.random() > 0.05,
                "created_at": EPOCH - timedelta(days=380, minutes=rng.randrange(60 * 24 * 10)),
            }
        )
    customers = [row["id"] for row in user_rows[1 + staff :]]
    if orders and not customers:
        raise ValidationError.single("orders", "orders need at least one customer")
    if orders and not any(row["active"] for row in item_rows):
        raise ValidationError.single("orders", "orders need at least one active item")
    order_rows, line_rows = _orders(rng, orders, customers, item_rows)
    return _Plan(user_rows, item_rows, order_rows, line_rows, staff)


def _orders(
    rng: random.Random, count: int, customers: list[int], item_rows: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    active = [row for row in item_rows if row["active"]]
    order_rows: list[dict[str, Any]] = []
    line_rows: list[dict[str, Any]] = []
    for order_id in range(1, count + 1):
        # Statuses follow the weights, whatever the number of orders: an item's stock is
        # what remains after them, so no order is ever short of it.
        status = rng.choices(_STATUSES_ALL, _WEIGHTS_ALL)[0]
        wanted = rng.sample(active, min(len(active), rng.randint(1, 6)))
        chosen = [(row, rng.randint(1, 3)) for row in wanted]
        created = EPOCH - timedelta(seconds=rng.randrange(365 * 24 * 3600))
        updated = created + timedelta(minutes=rng.randrange(1, 60 * 24 * 7))
        order_rows.append(
            {
                "id": order_id,
                "customer_id": rng.choice(customers),
                "status": status.value,
                "created_at": created,
                "updated_at": updated,
            }
        )
        for row, quantity in chosen:
            line_rows.append(
                {
                    "id": len(line_rows) + 1,
                    "order_id": order_id,
                    "item_id": row["id"],
                    "quantity": quantity,
                    "unit_price_cents": row["price_cents"],
                    "currency": row["currency"],
                }
            )
    return order_rows, line_rows


async def refuse_a_second_seed(target: AsyncConnection | AsyncEngine) -> None:
    """Raises AlreadySeededError when the demo data's marker is there."""
    if isinstance(target, AsyncEngine):
        async with target.connect() as conn:
            await refuse_a_second_seed(conn)
        return
    conn = target
    marker = tables.DEMO_SEED
    found = (
        await conn.execute(sa.select(marker.c.seed, marker.c.seeded_at).order_by(marker.c.id))
    ).first()
    if found is not None:
        raise AlreadySeededError(found.seed, found.seeded_at)


async def _refuse_taken_emails(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    emails = [row["email"] for row in rows]
    for start in range(0, len(emails), CHUNK):
        taken = await conn.execute(
            sa.select(tables.USERS.c.email)
            .where(tables.USERS.c.email.in_(emails[start : start + CHUNK]))
            .order_by(tables.USERS.c.email)
            .limit(1)
        )
        first = taken.scalar_one_or_none()
        if first is not None:
            raise DemoEmailTakenError(first)


async def _offsets(conn: AsyncConnection) -> dict[str, int]:
    """The highest id in each table (0 when empty): the plan's ids are shifted past it."""
    offsets = {}
    for table in SEEDED:
        highest = await conn.execute(sa.select(sa.func.max(table.c.id)))
        offsets[table.name] = highest.scalar_one() or 0
    return offsets


def _shift(plan: _Plan, offsets: dict[str, int]) -> None:
    user, item = offsets[tables.USERS.name], offsets[tables.ITEMS.name]
    order, line = offsets[tables.ORDERS.name], offsets[tables.ORDER_LINES.name]
    for row in plan.users:
        row["id"] += user
    for row in plan.items:
        row["id"] += item
    for row in plan.orders:
        row["id"] += order
        row["customer_id"] += user
    for row in plan.lines:
        row["id"] += line
        row["order_id"] += order
        row["item_id"] += item


async def _insert(
    conn: AsyncConnection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    on_progress: Progress | None,
) -> None:
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        await conn.execute(sa.insert(table), list(chunk))
        if on_progress is not None:
            on_progress(table.name, start + len(chunk), len(rows))
    if conn.dialect.name == "postgresql" and rows:
        # Explicit ids leave the sequence behind; move it past them.
        await conn.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608  # table names are ours
                f"(SELECT max(id) FROM {table.name}))"
            )
        )


SEEDED = (tables.USERS, tables.ITEMS, tables.ORDERS, tables.ORDER_LINES)


async def _analyze(engine: AsyncEngine) -> None:
    """Planner statistics for the tables just filled.

    Without them Postgres plans from its defaults until autovacuum comes round (never,
    where it is off): for the bench's nested query it expected 154 lines per order
    instead of 3.5. SQLite's ANALYZE fills sqlite_stat1.
    """
    async with engine.connect() as conn:
        for table in SEEDED:
            await conn.execute(sa.text(f"ANALYZE {table.name}"))
        await conn.commit()


async def seed(
    target: AsyncEngine | SqlUnitOfWorkFactory,
    *,
    users: int = 1_000,
    items: int = 500,
    orders: int = 10_000,
    seed: int = 42,
    password_hash: str | None = None,
    password_hash_for: Callable[[str], str] | None = None,
    on_progress: Progress | None = None,
) -> SeedSummary:
    """Add the demo data; raises AlreadySeededError if it is there, DemoEmailTakenError.

    Every demo user gets the same password hash: `password_hash` if given, else
    `password_hash_for(DEMO_PASSWORD)` computed once, else none (no demo logins).
    """
    if min(users, items, orders) < 0 or users < 1:
        raise ValidationError.single("users", "seeding needs at least the admin user")
    if password_hash is None and password_hash_for is not None:
        password_hash = password_hash_for(DEMO_PASSWORD)
    plan = _plan(
        random.Random(seed), users=users, items=items, orders=orders, password_hash=password_hash
    )
    engine = target.engine if isinstance(target, SqlUnitOfWorkFactory) else target
    async with engine.begin() as conn:
        await refuse_a_second_seed(conn)
        await _refuse_taken_emails(conn, plan.users)
        _shift(plan, await _offsets(conn))
        await _insert(conn, tables.USERS, plan.users, on_progress)
        await _insert(conn, tables.ITEMS, plan.items, on_progress)
        await _insert(conn, tables.ORDERS, plan.orders, on_progress)
        await _insert(conn, tables.ORDER_LINES, plan.lines, on_progress)
        await conn.execute(
            sa.insert(tables.DEMO_SEED).values(
                seed=seed, users=users, items=items, orders=orders, seeded_at=datetime.now(UTC)
            )
        )
    await _analyze(engine)
    return SeedSummary(
        users=len(plan.users),
        staff=plan.staff,
        customers=len(plan.users) - 1 - plan.staff,
        items=len(plan.items),
        orders=len(plan.orders),
        lines=len(plan.lines),
        admin_email=ADMIN_EMAIL,
        seed=seed,
    )
