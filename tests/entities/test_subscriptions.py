"""Declared subscriptions: `<entity>Created/Updated/Deleted` over WebSocket, after the commit."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from gateway.container import Container
from tests.gateway.realtime.helpers import connect, eventually, init, receive, subscribe, ws_client
from tests.gateway.world import World, as_user, gid

CREATED = "subscription { vendorCreated { id name rating } }"
DELETED = "subscription { vendorDeleted { deletedId } }"
CREATE = """mutation($input: CreateVendorInput!) { createVendor(input: $input) { id } }"""


async def _create(client: httpx.AsyncClient, world: World, name: str) -> str:
    response = await client.post(
        "/graphql",
        json={"query": CREATE, "variables": {"input": {"name": name, "email": "x@y.example"}}},
        headers=as_user(world.staff),
    )
    created: str = response.json()["data"]["createVendor"]["id"]
    return created


async def test_a_subscriber_receives_creations_and_deletions_after_the_commit(
    app: Starlette, container: Container, world: World
) -> None:
    async with ws_client(app) as client, connect(client, headers=as_user(world.staff)) as ws:
        await init(ws)
        await subscribe(ws, "1", CREATED)
        await subscribe(ws, "2", DELETED)
        await eventually(lambda: container.bus.subscriber_count == 2)
        created = await _create(client, world, "Acme")
        assert await receive(ws) == {
            "id": "1",
            "type": "next",
            "payload": {"data": {"vendorCreated": {"id": created, "name": "Acme", "rating": 0}}},
        }
        # A refused create (a duplicate name) commits nothing and publishes nothing.
        refused = await client.post(
            "/graphql",
            json={
                "query": CREATE,
                "variables": {"input": {"name": "Acme", "email": "z@y.example"}},
            },
            headers=as_user(world.staff),
        )
        assert refused.json()["errors"][0]["extensions"]["code"] == "ALREADY_EXISTS"
        deleted = await client.post(
            "/graphql",
            json={"query": f'mutation {{ deleteVendor(id: "{created}") {{ deletedId }} }}'},
            headers=as_user(world.staff),
        )
        assert "errors" not in deleted.json()
        assert await receive(ws) == {
            "id": "2",
            "type": "next",
            "payload": {"data": {"vendorDeleted": {"deletedId": gid("Vendor", 1)}}},
        }


async def test_a_caller_without_the_read_permission_cannot_subscribe(
    app: Starlette, world: World
) -> None:
    async with ws_client(app) as client, connect(client, headers=as_user(world.alice)) as ws:
        await init(ws)
        await subscribe(ws, "1", CREATED)
        message = await receive(ws)
        assert (message["type"], message["payload"][0]["extensions"]["code"]) == (
            "error",
            "FORBIDDEN",
        )
