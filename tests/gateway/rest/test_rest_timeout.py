"""REST runs its documents through the GraphQL pipeline: a read past the execution
timeout is cancelled and answered 504 problem+json, as `/graphql` answers it TIMEOUT."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from gateway.container import Container
from gateway.settings import Settings
from tests.gateway.rest.helpers import problem
from tests.gateway.timeouts import shorten_operation_timeout
from tests.gateway.world import World, as_user


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The resolver path (the planner would answer without the service); the timeout is
    # set after validation (`shorten_operation_timeout` says what that leaves above it).
    settings.graphql.planner = False
    return shorten_operation_timeout(settings, 0.2)


async def test_a_read_past_the_execution_timeout_is_cancelled_and_answered_504(
    client: httpx.AsyncClient,
    container: Container,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cancelled = asyncio.Event()

    async def hangs(*_args: Any, **_kwargs: Any) -> Any:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    monkeypatch.setattr(container.services.entities["Item"], "page", hangs)
    response = await client.get("/api/v1/items?first=3", headers=as_user(world.alice))
    assert (response.status_code, response.headers["content-type"]) == (
        504,
        "application/problem+json",
    )
    assert response.json() == problem(
        response,
        "timeout",
        "The operation took too long",
        "the operation did not finish within 0.2 seconds",
        "TIMEOUT",
    )
    assert cancelled.is_set()
