"""Rate limits over HTTP: 429 with headers, login brute force, the cost budget."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query, parse

from gateway.container import Container, build_container
from gateway.settings import RateLimitSettings, Settings
from schema.cost import operation_cost
from tests import migrated
from tests.gateway.clock import ManualClock
from tests.gateway.world import World, as_user

QUERY = {"query": "{ __typename }"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    limits = RateLimitSettings(
        anonymous="3/minute",
        user="6/minute",
        login_per_account="10/2 seconds",
        login_per_ip="1000/minute",
        cost_budget="10/minute",
        anonymous_cost_budget="100/minute",
    )
    return settings.model_copy(update={"rate_limit": limits})


@pytest.fixture
def clock() -> ManualClock:
    # The limits' time stands still one second into a minute unless a test moves it:
    # the in-process windows are aligned to minutes, and no edge is crossed by chance.
    return ManualClock.at_window_start(60)


@pytest.fixture
async def container(settings: Settings, clock: ManualClock) -> AsyncIterator[Container]:
    await migrated.upgrade(settings.database.url)
    built = build_container(settings, limiter_clock=clock)
    yield built
    await built.aclose()


def limit_headers(response: httpx.Response) -> dict[str, str]:
    names = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-policy", "retry-after")
    return {name: response.headers[name] for name in names if name in response.headers}


async def test_anonymous_callers_get_429_after_their_ip_quota(client: httpx.AsyncClient) -> None:
    seen = [await client.post("/graphql", json=QUERY) for _ in range(3)]
    assert [limit_headers(r) for r in seen] == [
        {"ratelimit-limit": "3", "ratelimit-remaining": str(n), "ratelimit-policy": "3;w=60"}
        for n in (2, 1, 0)
    ]
    refused = await client.post("/graphql", json=QUERY)
    # One second into the minute: the window has 59 seconds left.
    assert (refused.status_code, limit_headers(refused), refused.headers["ratelimit-reset"]) == (
        429,
        {
            "ratelimit-limit": "3",
            "ratelimit-remaining": "0",
            "ratelimit-policy": "3;w=60",
            "retry-after": "59",
        },
        "59",
    )
    assert refused.headers["content-type"] == "application/json; charset=utf-8"
    assert refused.json() == {
        "errors": [
            {
                "message": "rate limit exceeded",
                "extensions": {"code": "RATE_LIMITED", "retryAfter": 59},
            }
        ]
    }


async def test_the_quota_has_room_again_as_the_window_slides(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    """Sliding windows: the previous minute's hits weigh by the share of it still in
    the last 60 seconds, so room comes back a hit at a time after the minute's edge."""

    async def seen(advance: float) -> tuple[int, str]:
        clock.advance(advance)
        response = await client.post("/graphql", json=QUERY)
        return response.status_code, response.headers.get("retry-after", "-")

    # From 1 s into a minute: three admitted, the fourth refused until the minute ends;
    # at its edge the three weigh 3 x 60/60 (refused for one more second), one second
    # later 3 x 59/60 (floored: 2, room for one), and a third of a minute later one
    # more hit has slid out.
    steps = [0, 0, 0, 0, 58, 1, 1, 0, 20, 0]
    assert [await seen(step) for step in steps] == [
        (200, "-"),
        (200, "-"),
        (200, "-"),
        (429, "59"),
        (429, "1"),
        (429, "1"),
        (200, "-"),
        (429, "19"),
        (200, "-"),
        (429, "19"),
    ]


async def test_other_paths_refuse_with_problem_json(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await client.get("/.well-known/jwks.json")
    refused = await client.get("/.well-known/jwks.json")
    assert refused.headers["content-type"] == "application/problem+json"
    # The one problem builder: every member the OpenAPI `Problem` schema requires.
    assert refused.json() == {
        "type": "https://python-api-base.dev/problems/rate-limited",
        "title": "Too many requests",
        "status": 429,
        "detail": "rate limit exceeded",
        "instance": "/.well-known/jwks.json",
        "code": "RATE_LIMITED",
        "requestId": refused.headers["x-request-id"],
        "retryAfter": int(refused.headers["retry-after"]),
    }


async def test_probes_are_never_limited(client: httpx.AsyncClient) -> None:
    statuses = [(await client.get("/health/live")).status_code for _ in range(6)]
    assert statuses == [200] * 6


async def test_users_are_counted_apart_from_their_ip(
    client: httpx.AsyncClient, world: World
) -> None:
    for _ in range(3):
        await client.post("/graphql", json=QUERY)
    assert (await client.post("/graphql", json=QUERY)).status_code == 429
    as_alice = [
        await client.post("/graphql", json=QUERY, headers=as_user(world.alice)) for _ in range(6)
    ]
    assert [r.status_code for r in as_alice] == [200] * 6
    assert as_alice[0].headers["ratelimit-policy"] == "6;w=60"
    assert (
        await client.post("/graphql", json=QUERY, headers=as_user(world.alice))
    ).status_code == 429
    assert (
        await client.post("/graphql", json=QUERY, headers=as_user(world.bob))
    ).status_code == 200


async def test_a_malformed_forwarded_for_answers_normally(client: httpx.AsyncClient) -> None:
    statuses = []
    for header in (b"garbage", b"1.2.3.4, ,,, 999.0.0.1", b"x" * 10_000, b"\xe9t\xe9"):
        response = await client.post("/graphql", json=QUERY, headers={b"x-forwarded-for": header})
        statuses.append(response.status_code)
    # Every one counted against the peer: none escaped to a made-up address.
    assert statuses == [200, 200, 200, 429]


async def test_a_forged_forwarded_for_does_not_escape_the_quota(
    client: httpx.AsyncClient,
) -> None:
    statuses = [
        (
            await client.post("/graphql", json=QUERY, headers={"x-forwarded-for": f"10.0.0.{n}"})
        ).status_code
        for n in range(4)
    ]
    assert statuses == [200, 200, 200, 429]


async def test_the_cost_budget_is_debited_and_reported(
    client: httpx.AsyncClient, world: World, clock: ManualClock
) -> None:
    alice = as_user(world.alice)
    # `me { name }` costs 2 (one per field); alice has 10 points a minute.
    reports: list[dict[str, Any]] = []
    for _ in range(5):
        response = await client.post("/graphql", json={"query": "{ me { name } }"}, headers=alice)
        assert response.json()["data"] == {"me": {"name": "Alice"}}
        reports.append(response.json()["extensions"]["rateLimit"])
    # The window's end: 59 seconds after the clock's time, one second into a minute.
    window_end = datetime.fromtimestamp(clock() + 59, UTC).isoformat().replace("+00:00", "Z")
    assert reports == [
        {"cost": 2, "remaining": remaining, "resetAt": window_end} for remaining in (8, 6, 4, 2, 0)
    ]
    spent = await client.post("/graphql", json={"query": "{ me { name } }"}, headers=alice)
    body = spent.json()
    retry_after = body["errors"][0]["extensions"]["retryAfter"]
    # Refused like every other rate limit: 429 with Retry-After (whole seconds, rounded up).
    assert (spent.status_code, spent.headers["retry-after"]) == (
        429,
        str(max(1, math.ceil(retry_after))),
    )
    assert body == {
        "errors": [
            {
                "message": "the cost budget of this window is used up",
                "extensions": {"code": "RATE_LIMITED", "retryAfter": retry_after},
            }
        ],
        "extensions": {
            **body["extensions"],
            "rateLimit": {
                "cost": 2,
                "remaining": 0,
                "resetAt": body["extensions"]["rateLimit"]["resetAt"],
            },
        },
    }


async def test_a_batch_is_refused_with_429_only_when_every_operation_is(
    client: httpx.AsyncClient, world: World
) -> None:
    alice = as_user(world.alice)
    cheap, dear = {"query": "{ __typename }"}, {"query": "{ me { name } }"}
    spend = await client.post("/graphql", json=[dear] * 3, headers=alice)  # 6 of 10 points
    partly = await client.post("/graphql", json=[dear, cheap, dear], headers=alice)
    refused = await client.post("/graphql", json=[dear, dear], headers=alice)
    assert [r.status_code for r in (spend, partly, refused)] == [200, 200, 429]
    assert [
        [item["errors"][0]["extensions"]["code"] if "errors" in item else "ok" for item in r.json()]
        for r in (partly, refused)
    ] == [["ok", "ok", "RATE_LIMITED"], ["RATE_LIMITED", "RATE_LIMITED"]]
    assert 1 <= int(refused.headers["retry-after"]) <= 60


async def test_introspection_costs_the_budget_little(
    client: httpx.AsyncClient, world: World, container: Container
) -> None:
    # GraphiQL fetches the whole schema on every page load (a static cost of thousands),
    # which is charged RATE_LIMIT__INTROSPECTION_COST (10) points.
    introspection = {"query": get_introspection_query()}
    response = await client.post("/graphql", json=introspection, headers=as_user(world.alice))
    body = response.json()
    assert (response.status_code, "__schema" in body["data"]) == (200, True)
    assert operation_cost(container.schema, parse(get_introspection_query())) > 5_000
    assert {k: v for k, v in body["extensions"]["rateLimit"].items() if k != "resetAt"} == {
        "cost": 10,
        "remaining": 0,
    }


async def test_a_request_refused_by_its_quota_spends_no_cost(
    client: httpx.AsyncClient, container: Container
) -> None:
    """The request quota and the cost budget are taken together, the request's first."""
    assert container.limiter is not None
    assert container.budget is not None
    query = {"query": "{ items(first: 1) { edges { node { name } } } }"}
    answered = [await client.post("/graphql", json=query) for _ in range(3)]
    costs = [r.json()["extensions"]["rateLimit"]["cost"] for r in answered]
    refused = await client.post("/graphql", json=query)
    assert [r.status_code for r in [*answered, refused]] == [200, 200, 200, 429]
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    budget = container.budget.anonymous
    left = await container.limiter.hit(budget, "cost", "ip:127.0.0.1", cost=0)
    assert left.remaining == budget.amount - sum(costs)


async def test_a_request_that_never_reaches_the_budget_is_still_counted(
    client: httpx.AsyncClient,
) -> None:
    # A syntax error: refused before any cost is known.
    broken = [await client.post("/graphql", json={"query": "{"}) for _ in range(3)]
    assert all("rateLimit" not in r.json().get("extensions", {}) for r in broken)
    assert [r.headers["ratelimit-remaining"] for r in broken] == ["2", "1", "0"]
    assert (await client.post("/graphql", json=QUERY)).status_code == 429


async def test_a_refused_caller_is_refused_again_without_asking_the_counters(
    client: httpx.AsyncClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert container.limiter is not None
    for _ in range(3):
        await client.post("/graphql", json=QUERY)
    assert (await client.post("/graphql", json=QUERY)).status_code == 429
    asked: list[object] = []
    original = container.limiter.hit_all

    async def counted(hits: Any) -> Any:
        asked.append(hits)
        return await original(hits)

    monkeypatch.setattr(container.limiter, "hit_all", counted)
    again = [await client.post("/graphql", json=QUERY), await client.get("/api/v1/items")]
    assert [r.status_code for r in again] == [429, 429]
    assert 1 <= int(again[0].headers["retry-after"]) <= 60
    assert again[1].headers["content-type"] == "application/problem+json"
    assert asked == []
