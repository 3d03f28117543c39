"""Anonymous WebSocket subscriptions are charged to their client IP, as HTTP requests are."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from gateway.container import Container
from gateway.settings import RateLimitSettings, Settings
from tests.gateway.realtime.helpers import (
    ITEM_PRICE,
    connect,
    eventually,
    init,
    subscribe,
    ws_client,
)
from tests.gateway.world import World, gid


@pytest.fixture
def settings(settings: Settings) -> Settings:
    limits = RateLimitSettings(anonymous_cost_budget="100000/hour")
    return settings.model_copy(update={"rate_limit": limits})


async def test_an_anonymous_subscription_is_charged_to_its_client_ip(
    app: Starlette, container: Container, world: World
) -> None:
    assert container.budget is not None
    assert container.limiter is not None
    budget, limiter = container.budget.anonymous, container.limiter

    async def remaining(subject: str) -> int:
        return (await limiter.hit(budget, "cost", subject, cost=0)).remaining

    async with ws_client(app) as client, connect(client) as ws:
        await init(ws)
        await subscribe(ws, "1", ITEM_PRICE, {"id": gid("Item", world.widget)})
        await eventually(lambda: container.bus.subscriber_count == 1)
        charged = budget.amount - await remaining("ip:127.0.0.1")
    assert (charged > 0, await remaining("ip:unknown")) == (True, budget.amount)
