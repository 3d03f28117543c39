"""Demo data and the bootstrap admin, for `gateway seed`."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from domain.paging import PageRequest
from domain.specifications import Always
from domain.users import Email, Role
from gateway.auth.passwords import hasher_for
from gateway.settings import Settings
from persistence import seed as seeding
from persistence.database import create_engine
from persistence.schema_version import schema_version
from persistence.unit_of_work import SqlUnitOfWorkFactory


class NotMigratedError(Exception):
    """The database is behind the migrations; the message names the command to run."""


async def seed_demo(
    settings: Settings,
    *,
    users: int,
    items: int,
    orders: int,
    seed: int,
    once: bool,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> str:
    """Seed the database; returns the report to print, with the admin's credentials once.

    Every demo user gets the documented demo password; the admin gets
    SECURITY__ADMIN_PASSWORD or a random one, which is shown here and never again.
    """
    engine = create_engine(settings.database.url)
    hasher = hasher_for(settings.security)
    try:
        version = await schema_version(engine)
        if version.behind:
            raise NotMigratedError(version.fix())
        try:
            # Checked before hashing the demo password (an argon2 hash) and again in seed().
            await seeding.refuse_a_second_seed(engine)
            demo_hash = await hasher.hash(seeding.DEMO_PASSWORD)
            summary = await seeding.seed(
                engine,
                users=users,
                items=items,
                orders=orders,
                seed=seed,
                password_hash=demo_hash,
                on_progress=on_progress,
            )
        except seeding.AlreadySeededError as already:
            if once:
                return f"{already}: nothing seeded"
            raise
        configured = settings.security.admin_password
        admin_password = (
            configured.get_secret_value() if configured else f"Adm-{secrets.token_urlsafe(12)}-9"
        )
        admin_email = Email(settings.security.admin_email)
        uow_factory = SqlUnitOfWorkFactory(engine)
        async with uow_factory() as uow:
            admin = await uow.users.by_email(Email(seeding.ADMIN_EMAIL))
            assert admin is not None, "the seed always creates the admin"
            admin.email = admin_email
            admin.password_hash = await hasher.hash(admin_password)
            await uow.users.save(admin)
            # Name real demo accounts in the report: the first staff member and customer.
            first = await uow.users.page(Always(), PageRequest(first=100))
            await uow.commit()
        examples = [
            next((u.email.value for u in first.items if u.roles == {role}), None)
            for role in (Role.STAFF, Role.CUSTOMER)
        ]
    finally:
        await engine.dispose()
    shown = "(from SECURITY__ADMIN_PASSWORD)" if configured else admin_password
    return "\n".join(
        [
            f"seeded {summary.users} users ({summary.staff} staff), {summary.items} items, "
            f"{summary.orders} orders with {summary.lines} lines (seed {summary.seed})",
            f"admin:      {admin_email} / {shown}   <- shown once; store it now",
            f"demo users: {', '.join(e for e in examples if e)}, ... / {seeding.DEMO_PASSWORD}",
        ]
    )
