"""A small graphql-transport-ws client over httpx-ws for the realtime tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
TIMEOUT = 5.0

ORDER_STATUS = """subscription($id: ID!) { orderStatusChanged(orderId: $id) {
  previous current order { id status customer { name } } } }"""
ORDER_PLACED = "subscription { orderPlaced { id total { amount } customer { name } } }"
ITEM_PRICE = """subscription($id: ID!) { itemPriceChanged(itemId: $id) {
  previous { amount } current { amount } item { id name price { amount currency } } } }"""


@asynccontextmanager
async def ws_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        ASGIWebSocketTransport(app=app) as transport,
        httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client,
    ):
        yield client


@asynccontextmanager
async def connect(
    client: httpx.AsyncClient,
    protocol: str = TRANSPORT_WS,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[AsyncWebSocketSession]:
    session: AbstractAsyncContextManager[AsyncWebSocketSession] = aconnect_ws(
        "/graphql",
        client,
        subprotocols=[protocol],
        headers=headers or {},
        keepalive_ping_interval_seconds=None,
    )
    async with session as ws:
        yield ws


async def receive(ws: AsyncWebSocketSession, seconds: float = TIMEOUT) -> dict[str, Any]:
    """The next message, without the `extensions` the HTTP limits add (cost, quotas)."""
    message: dict[str, Any] = await ws.receive_json(timeout=seconds)
    payload = message.get("payload")
    if isinstance(payload, dict):
        payload.pop("extensions", None)
    return message


async def closed_with(ws: AsyncWebSocketSession, seconds: float = TIMEOUT) -> tuple[int, str]:
    """The close code and reason, skipping any messages sent before the close."""
    try:
        while True:
            await ws.receive(timeout=seconds)
    except WebSocketDisconnect as exc:
        return exc.code, exc.reason or ""


async def init(ws: AsyncWebSocketSession, payload: dict[str, Any] | None = None) -> None:
    await ws.send_json({"type": "connection_init", "payload": payload or {}})
    assert await receive(ws) == {"type": "connection_ack"}


async def subscribe(
    ws: AsyncWebSocketSession, op_id: str, query: str, variables: dict[str, Any] | None = None
) -> None:
    payload = {"query": query, "variables": variables or {}}
    await ws.send_json({"id": op_id, "type": "subscribe", "payload": payload})


async def eventually(condition: Callable[[], bool], seconds: float = TIMEOUT) -> None:
    """Wait until `condition()` holds (subscriptions are set up asynchronously)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
