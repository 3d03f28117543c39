"""An app over a fresh, migrated database with a little data, and an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from domain.money import Money
from domain.orders import LineRequest
from domain.principals import Principal
from domain.users import Email, Role
from gateway.app import create_app
from gateway.container import Container, build_container
from gateway.settings import Settings
from persistence import migrate
from schema.node import to_global_id


@dataclass
class World:
    """Ids of the objects every gateway test can rely on."""

    admin: int
    staff: int
    alice: int
    bob: int
    widget: int
    gadget: int
    last_unit: int
    alice_order: int
    bob_order: int


async def populate(container: Container) -> World:
    system = Principal.system()
    users = container.services.users
    admin = await users.create(
        system, email=Email("admin@example.com"), name="Ada Admin", roles=frozenset({Role.ADMIN})
    )
    staff = await users.create(
        system, email=Email("staff@example.com"), name="Sam Staff", roles=frozenset({Role.STAFF})
    )
    alice = await users.create(system, email=Email("alice@example.com"), name="Alice")
    bob = await users.create(system, email=Email("bob@example.com"), name="Bob")
    items = container.services.items
    staff_p = Principal(staff.id, staff.roles)
    widget = await items.create(
        staff_p, sku="WIDGET-1", name="Widget", price=Money.of("9.99"), stock=100
    )
    gadget = await items.create(
        staff_p, sku="GADGET-1", name="Gadget", price=Money.of("25.00"), stock=10
    )
    last = await items.create(
        staff_p, sku="LAST-1", name="Last one", price=Money.of("5.00"), stock=1
    )
    orders = container.services.orders
    alice_order = await orders.place(
        Principal(alice.id, alice.roles), [LineRequest(widget.id, 2), LineRequest(gadget.id, 1)]
    )
    bob_order = await orders.place(Principal(bob.id, bob.roles), [LineRequest(widget.id, 1)])
    return World(
        admin.id,
        staff.id,
        alice.id,
        bob.id,
        widget.id,
        gadget.id,
        last.id,
        alice_order.id,
        bob_order.id,
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"},
        security={
            "allow_debug_identity": True,
            "secret_key": "x" * 40,
            # Cheap hashing keeps the suite fast; the parameters are not what is tested.
            "argon2_time_cost": 1,
            "argon2_memory_kib": 1024,
            "argon2_parallelism": 1,
        },
        # Tests compare whole bodies; the budget and cost reports are tested on their own.
        rate_limit={"report_budget": False},
        graphql={"report_cost": False},
    )


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[Container]:
    await migrate.upgrade(settings.database.url)
    built = build_container(settings)
    yield built
    await built.aclose()


@pytest.fixture
async def world(container: Container) -> World:
    return await populate(container)


@pytest.fixture
def app(settings: Settings, container: Container) -> Starlette:
    return create_app(settings, container)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        yield http


def as_user(user_id: int) -> dict[str, str]:
    return {"X-Debug-User": str(user_id)}


def gid(type_name: str, key: int) -> str:
    return str(to_global_id(type_name, key))
