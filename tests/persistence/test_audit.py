"""The audit trail in the unit of work: every change recorded in its own transaction, with
who and where, redacted, paged newest first and purged by age (SQLite and Postgres)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.audit import AuditAction, AuditContext, AuditEntry, AuditFilter, AuditRecord
from domain.errors import DuplicateError, OutOfStockError
from domain.money import Money
from domain.orders import LineRequest
from domain.paging import PageRequest
from domain.principals import Principal
from domain.users import Email, Role, User
from persistence import tables
from persistence.audit import SqlAuditLog
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.orders import order_service, unit_of_work_factory
from tests.persistence.builders import Recorder, a_user, an_item, store_items, store_users

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def everything(engine: AsyncEngine, spec: AuditFilter | None = None) -> list[AuditEntry]:
    page = await SqlAuditLog(engine).page(spec or AuditFilter(), PageRequest(first=100))
    return list(page.items)


async def rows_in_table(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(sa.select(sa.func.count()).select_from(tables.AUDIT_LOG))
            ).scalar_one()
        )


def seen(entry: AuditEntry) -> tuple[object, ...]:
    return (
        entry.action,
        entry.entity_type,
        entry.entity_id,
        entry.actor_id,
        entry.request_id,
        entry.client_ip,
        entry.before,
        entry.after,
    )


async def test_a_placed_order_is_recorded_with_its_actor_request_and_the_stock_it_took(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    (customer,) = await store_users(uow_factory, [a_user()])
    (item,) = await store_items(uow_factory, [an_item(stock=10, price=Money.of("2.50"))])
    request = AuditContext(customer.id, "req-place-0001", "203.0.113.9")
    orders = order_service(uow_factory, Recorder()).for_request(request)

    order = await orders.place(
        Principal(customer.id, frozenset({Role.CUSTOMER})), [LineRequest(item.id, 3)]
    )

    mine = [e for e in await everything(engine) if e.request_id == "req-place-0001"]
    assert [seen(e) for e in mine] == [
        (
            AuditAction.UPDATE,
            "Item",
            item.id,
            customer.id,
            "req-place-0001",
            "203.0.113.9",
            {"stock": 10},
            {"stock": 7},
        ),
        (
            AuditAction.CREATE,
            "Order",
            order.id,
            customer.id,
            "req-place-0001",
            "203.0.113.9",
            None,
            {
                "customer_id": customer.id,
                "status": "placed",
                "created_at": order.created_at.isoformat(),
                "updated_at": order.updated_at.isoformat(),
                "lines": [
                    {
                        "item_id": item.id,
                        "quantity": 3,
                        "unit_price_cents": 250,
                        "currency": "USD",
                    }
                ],
            },
        ),
    ]
    assert mine[0].occurred_at == mine[1].occurred_at  # one transaction, one time


async def test_secrets_and_emails_are_redacted_in_what_is_stored(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    secret_hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
    user = User(email=Email("carol.secret@example.com"), name="Carol", password_hash=secret_hash)
    async with uow_factory.on_behalf_of(AuditContext(None, "req-user-0001", None))() as uow:
        await uow.users.add(user)
        await uow.commit()
    async with uow_factory.on_behalf_of(AuditContext(user.id, "req-user-0002", None))() as uow:
        stored = await uow.users.get(user.id, for_update=True)
        assert stored is not None
        stored.password_hash = secret_hash + "-new"
        await uow.users.save(stored)
        await uow.commit()

    entries = await everything(engine)
    assert [(e.action, e.before, e.after) for e in entries] == [
        (AuditAction.UPDATE, {"password_hash": "[redacted]"}, {"password_hash": "[redacted]"}),
        (
            AuditAction.CREATE,
            None,
            {
                "email": "c***@example.com",
                "name": "Carol",
                "roles": "customer",
                "password_hash": "[redacted]",
                "active": True,
                "created_at": user.created_at.isoformat(),
            },
        ),
    ]
    async with engine.connect() as conn:
        stored_text = " ".join(
            str(value)
            for row in (await conn.execute(sa.select(tables.AUDIT_LOG))).all()
            for value in row
        )
    assert "argon2" not in stored_text
    assert "carol.secret" not in stored_text


async def test_a_change_that_is_rolled_back_leaves_no_audit_row(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    (customer,) = await store_users(uow_factory, [a_user()])
    plenty, scarce = await store_items(
        uow_factory, [an_item(sku="PLENTY-1", stock=50), an_item(sku="SCARCE-1", stock=1)]
    )
    before = await rows_in_table(engine)
    orders = order_service(uow_factory, Recorder()).for_request(AuditContext(customer.id))
    buyer = Principal(customer.id, frozenset({Role.CUSTOMER}))

    # The first line is reserved, then the second fails: nothing of it commits.
    with pytest.raises(OutOfStockError):
        await orders.place(buyer, [LineRequest(plenty.id, 5), LineRequest(scarce.id, 2)])
    # Written, then abandoned without a commit.
    async with uow_factory() as uow:
        await uow.items.add(an_item(sku="ABANDONED-1"))
        uow.audit(AuditRecord(AuditAction.LOGIN, "User", customer.id))

    # The commit itself fails (a duplicate the database refuses).
    async def add_twice() -> None:
        async with uow_factory() as uow:
            await uow.items.add(an_item(sku="TWICE-1"))
            await uow.items.add(an_item(sku="TWICE-1"))
            await uow.commit()

    with pytest.raises(DuplicateError):
        await add_twice()

    assert await rows_in_table(engine) == before


async def test_concurrent_orders_each_get_their_row_and_the_stock_changes_chain(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    (customer,) = await store_users(uow_factory, [a_user()])
    (item,) = await store_items(uow_factory, [an_item(stock=100)])
    buyer = Principal(customer.id, frozenset({Role.CUSTOMER}))
    racers = 8

    async def place(n: int) -> int:
        service = order_service(uow_factory, Recorder())
        bound = service.for_request(AuditContext(customer.id, f"req-race-{n:04d}", None))
        return (await bound.place(buyer, [LineRequest(item.id, 1)])).id

    placed = await asyncio.wait_for(asyncio.gather(*(place(n) for n in range(racers))), 60)

    created = await everything(engine, AuditFilter(entity_type="Order"))
    assert sorted((e.entity_id or 0, e.request_id or "") for e in created) == sorted(
        (order_id, f"req-race-{n:04d}") for n, order_id in enumerate(placed)
    )
    taken = await everything(engine, AuditFilter(entity_type="Item", action=AuditAction.UPDATE))
    # Each change starts where the one before it ended: no update was lost or merged.
    assert [(e.before, e.after) for e in reversed(taken)] == [
        ({"stock": 100 - n}, {"stock": 99 - n}) for n in range(racers)
    ]


async def test_pages_visit_each_entry_once_newest_first_and_filters_combine(
    engine: AsyncEngine,
) -> None:
    clock = iter(T0 + timedelta(minutes=n) for n in range(100))
    factory = unit_of_work_factory(engine, now=lambda: next(clock))
    records = [
        (AuditContext(1, f"req-{n:04d}-filter"), AuditRecord(action, "User", n % 3 + 1))
        for n, action in enumerate(
            [AuditAction.LOGIN, AuditAction.LOGOUT, AuditAction.LOGIN_FAILED] * 3
        )
    ]
    for context, record in records:
        async with factory.on_behalf_of(context)() as uow:
            uow.audit(record)
            await uow.commit()
    log = SqlAuditLog(engine)

    visited: list[int] = []
    request = PageRequest(first=2)
    while True:
        page = await log.page(AuditFilter(), request)
        visited += [entry.id for entry in page.items]
        if not page.has_next_page:
            break
        request = PageRequest(first=2, after=page.cursors[-1])
    assert visited == sorted(visited, reverse=True)
    assert len(visited) == len(set(visited)) == 9 == await log.count(AuditFilter())

    async def matching(spec: AuditFilter) -> list[str | None]:
        return [e.request_id for e in (await log.page(spec, PageRequest(first=50))).items]

    assert await matching(AuditFilter(action=AuditAction.LOGOUT, entity_id=2)) == [
        "req-0007-filter",
        "req-0004-filter",
        "req-0001-filter",
    ]
    assert await matching(
        AuditFilter(since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=4))
    ) == ["req-0003-filter", "req-0002-filter"]
    assert await matching(AuditFilter(actor_id=2)) == []
    assert await matching(AuditFilter(entity_type="Order")) == []


async def test_the_purge_removes_only_entries_older_than_the_cutoff(engine: AsyncEngine) -> None:
    times = iter([T0, T0 + timedelta(days=1), T0 + timedelta(days=40), T0 + timedelta(days=41)])
    factory = unit_of_work_factory(engine, now=lambda: next(times))
    for n in range(4):
        async with factory.on_behalf_of(AuditContext(7, f"req-purge-{n}"))() as uow:
            uow.audit(AuditRecord(AuditAction.LOGIN, "User", 7))
            await uow.commit()
    log = SqlAuditLog(engine)

    assert await log.purge(T0 + timedelta(days=30)) == 2
    assert await log.purge(T0 + timedelta(days=30)) == 0
    assert [e.request_id for e in await everything(engine)] == ["req-purge-3", "req-purge-2"]
