"""Login throttling over GraphQL: per account and per client IP, against brute force."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from gateway.settings import RateLimitSettings, Settings
from tests.gateway.accounts import LOGIN, PASSWORD, codes, gql, register
from tests.gateway.world import World


@pytest.fixture
def settings(settings: Settings) -> Settings:
    limits = RateLimitSettings(login_per_account="10/5 seconds", login_per_ip="60/minute")
    return settings.model_copy(update={"rate_limit": limits})


async def test_brute_force_ends_in_rate_limited_and_locks_even_the_right_password(
    settings: Settings, client: httpx.AsyncClient, world: World
) -> None:
    await register(client, "carol@example.com")
    burst = await asyncio.gather(
        *(
            gql(client, LOGIN, {"e": "Carol@Example.com", "p": f"Wrong-Guess-{n}"})
            for n in range(50)
        )
    )
    outcomes = sorted(code for response in burst for code in codes(response))
    assert outcomes == ["RATE_LIMITED"] * 40 + ["UNAUTHENTICATED"] * 10
    right = await gql(client, LOGIN, {"e": "carol@example.com", "p": PASSWORD})
    error = right.json()["errors"][0]
    retry_after = error["extensions"]["retryAfter"]
    assert 1 <= retry_after <= 5
    assert error == {
        "message": "too many login attempts; try again later",
        "locations": error["locations"],
        "path": ["login"],
        "extensions": {"code": "RATE_LIMITED", "retryAfter": error["extensions"]["retryAfter"]},
    }
    await asyncio.sleep(retry_after + 0.2)
    again = await gql(client, LOGIN, {"e": "carol@example.com", "p": PASSWORD})
    assert again.json()["data"]["login"]["user"]["email"] == "carol@example.com"


async def test_one_client_trying_many_accounts_is_limited_by_ip(
    client: httpx.AsyncClient, world: World
) -> None:
    await register(client, "carol@example.com")
    tries = await asyncio.gather(
        *(
            gql(client, LOGIN, {"e": f"user{n}@example.com", "p": "Wrong-Guess-1"})
            for n in range(60)
        )
    )
    assert [code for response in tries for code in codes(response)] == ["UNAUTHENTICATED"] * 60
    # Carol's account has attempts left, but this client has none.
    right = await gql(client, LOGIN, {"e": "carol@example.com", "p": PASSWORD})
    assert codes(right) == ["RATE_LIMITED"]
