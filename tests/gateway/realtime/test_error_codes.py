"""Every WebSocket `error` message carries `extensions.code`, as every HTTP error does."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from gateway.settings import Settings
from tests.gateway.realtime.helpers import ITEM_PRICE, connect, init, receive, subscribe, ws_client
from tests.gateway.world import World


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.realtime.max_subscriptions_per_connection = 1
    return settings


async def test_an_invalid_subscription_document_is_an_error_with_a_code(
    app: Starlette, world: World
) -> None:
    async with ws_client(app) as client, connect(client) as ws:
        await init(ws)
        await subscribe(ws, "1", "subscription { noSuchField }")
        assert await receive(ws) == {
            "id": "1",
            "type": "error",
            "payload": [
                {
                    "message": "Cannot query field 'noSuchField' on type 'Subscription'.",
                    "locations": [{"line": 1, "column": 16}],
                    "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
                }
            ],
        }


async def test_bad_variables_and_long_documents_are_errors_with_codes(
    app: Starlette, world: World
) -> None:
    async with ws_client(app) as client, connect(client) as ws:
        await init(ws)
        await subscribe(ws, "1", ITEM_PRICE, {"id": "\u0000"})
        assert await receive(ws) == {
            "id": "1",
            "type": "error",
            "payload": [
                {
                    "message": "variable $id: a string may not contain NUL characters",
                    "extensions": {"code": "BAD_USER_INPUT"},
                }
            ],
        }
        long_document = "subscription { " + " " * 20_000 + "orderPlaced { id } }"
        await subscribe(ws, "2", long_document)
        message = await receive(ws)
        assert message["payload"][0]["extensions"]["code"] == "MAX_DOCUMENT_LENGTH_EXCEEDED"


async def test_the_subscription_cap_is_an_error_with_a_code(app: Starlette, world: World) -> None:
    async with ws_client(app) as client, connect(client) as ws:
        await init(ws)
        variables = {"id": "SXRlbTox"}
        await subscribe(ws, "1", ITEM_PRICE, variables)
        await subscribe(ws, "2", ITEM_PRICE, variables)
        assert await receive(ws) == {
            "id": "2",
            "type": "error",
            "payload": [
                {
                    "message": "Subscription limit reached",
                    "extensions": {"code": "MAX_SUBSCRIPTIONS_EXCEEDED"},
                }
            ],
        }
