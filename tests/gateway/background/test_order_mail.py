"""Shipping an order mails its customer, through a real (local) SMTP server.

On the embedded default the handler runs in the serving process, after the commit; a
mail server that is away makes the handler retry with backoff, never the mutation fail.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
import sqlalchemy as sa

from gateway.container import Container
from gateway.settings import Settings
from persistence import tables
from tests.gateway.mail import Inbox
from tests.gateway.mail import inbox as inbox  # the fixture, for this module
from tests.gateway.world import World, as_user, gid

STATUS = (
    """mutation($id: ID!, $s: OrderStatus!) { updateOrderStatus(id: $id, status: $s) { status } }"""
)


@pytest.fixture
def settings(settings: Settings, inbox: tuple[Inbox, int]) -> Settings:
    settings.mail.host = "127.0.0.1"
    settings.mail.port = inbox[1]
    settings.mail.start_tls = False
    settings.mail.sender = "shop@example.com"
    return settings


async def move(client: httpx.AsyncClient, world: World, status: str) -> None:
    response = await client.post(
        "/graphql",
        json={"query": STATUS, "variables": {"id": gid("Order", world.bob_order), "s": status}},
        headers=as_user(world.staff),
    )
    assert response.json() == {"data": {"updateOrderStatus": {"status": status}}}


async def test_shipping_an_order_mails_its_customer_once(
    client: httpx.AsyncClient, world: World, container: Container, inbox: tuple[Inbox, int]
) -> None:
    box, _port = inbox
    box._loop = asyncio.get_running_loop()
    await move(client, world, "PAID")
    await move(client, world, "SHIPPED")
    async with asyncio.timeout(20):
        await box.arrived.wait()
    await container.relay.drain()
    # Published again, as after a crash between publishing and marking: no second mail.
    async with container.engine.begin() as conn:
        await conn.execute(sa.update(tables.OUTBOX).values(published_at=None))
    await container.relay.drain()  # or its background task does: either waits for the other

    def runs(outcome: str) -> float | None:
        return container.observability.metrics.registry.get_sample_value(
            "gateway_event_handler_runs_total", {"handler": "mail-when-shipped", "outcome": outcome}
        )

    # Two status changes, each handled once, then each seen again and skipped.
    assert (runs("done"), runs("repeat")) == (2.0, 2.0)
    assert len(box.messages) == 1
    recipients, message = box.messages[0]
    assert recipients == ["bob@example.com"]
    assert (message["From"], message["To"], message["Subject"]) == (
        "shop@example.com",
        "bob@example.com",
        f"Your order {world.bob_order} has shipped",
    )
    assert str(message.get_payload()).replace("\r\n", "\n") == (
        f"Hello Bob,\n\nyour order {world.bob_order} is on its way:\n"
        f"  1 x item {world.widget}\n\nTotal: 9.99 USD\n"
    )
