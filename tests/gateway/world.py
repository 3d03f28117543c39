"""The data every gateway test can rely on, and how tests name users and ids."""

from __future__ import annotations

from dataclasses import dataclass

from domain.money import Money
from domain.orders import LineRequest
from domain.principals import Principal
from domain.users import Email, Role
from gateway.container import Container
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


def as_user(user_id: int) -> dict[str, str]:
    return {"X-Debug-User": str(user_id)}


def gid(type_name: str, key: int) -> str:
    return str(to_global_id(type_name, key))
