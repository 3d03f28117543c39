"""The planner tests' gateways: two over one seeded database, the read planner on and
off, asked as a chosen user, and spies on the read model (the fixtures are in conftest)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import read_plan as plan
from gateway.app import create_app
from gateway.container import Container, build_container
from gateway.settings import Settings
from persistence.read_model import SqlReadModel

ADMIN, STAFF, CUSTOMER, OTHER_CUSTOMER = 1, 2, 4, 9


def settings_for(url: str, *, planner: bool) -> Settings:
    return Settings(
        database={"url": url},
        security={"allow_debug_identity": True, "secret_key": "p" * 40},
        # A shared budget would make the two gateways' answers drift apart.
        rate_limit={"enabled": False},
        graphql={"planner": planner},
    )


@dataclass
class Answer:
    status: int
    body: Any


@dataclass
class Gateway:
    container: Container
    client: httpx.AsyncClient

    async def ask(
        self, query: str, variables: dict[str, Any] | None = None, user: int | None = None
    ) -> Answer:
        headers = {"X-Debug-User": str(user)} if user is not None else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        return Answer(response.status_code, response.json())


def break_the_read_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every planned read fails inside the read model, as a bug of its own would."""

    def broken(self: SqlReadModel, built: plan.Plan, scope: plan.Scope) -> list[Any]:
        raise RuntimeError("planner bug")

    # The container holds the bound `fetch`; what it calls is looked up per request.
    monkeypatch.setattr(SqlReadModel, "_prepared", broken)


@dataclass
class Planned:
    """Counts the plans the read model ran (a spy: being planned is the behaviour)."""

    roots: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.roots)


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> Planned:
    seen = Planned()
    original = SqlReadModel.fetch

    async def spy(self: SqlReadModel, built: plan.Plan, scope: plan.Scope) -> dict[str, str]:
        answers = await original(self, built, scope)
        seen.roots.extend(answers)
        return answers

    monkeypatch.setattr(SqlReadModel, "fetch", spy)
    return seen


async def open_gateway(url: str, *, planner: bool) -> tuple[Container, httpx.AsyncClient]:
    settings = settings_for(url, planner=planner)
    container = build_container(settings)
    transport = httpx.ASGITransport(app=create_app(settings, container))
    return container, httpx.AsyncClient(transport=transport, base_url="http://gateway.test")


TWO_ROOTS = """
query Two($n: Int!) {
  users(first: $n) { edges { node { name orders { edges { node { lines { item { name } } } } } } } }
  orders(first: $n) { totalCount edges { node { customer { name } lines { quantity } } } }
}
"""


class ReadModelSpy:
    """Marks the time the read model spends fetching, so a test can look at what is sent
    then and nothing else (the caller's lookup has its own unit of work, and an idle
    pooled connection may be pinged). Install before the container binds `fetch`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fetching = False
        self.fetches = 0
        # The task fetching: background work (the outbox relay, a revocation refresh) may
        # run on other connections meanwhile and is not the read model's.
        self.task: asyncio.Task[Any] | None = None
        fetch = SqlReadModel.fetch

        async def marked(model: SqlReadModel, *args: Any) -> dict[str, str]:
            self.fetching, self.fetches = True, self.fetches + 1
            self.task = asyncio.current_task()
            try:
                return await fetch(model, *args)
            finally:
                self.fetching = False

        monkeypatch.setattr(SqlReadModel, "fetch", marked)


async def ask_two_roots(
    url: str, on_engine: Callable[[AsyncEngine], None] | None = None
) -> dict[str, Any]:
    """TWO_ROOTS asked once as an admin through a planned gateway on `url`; its body.
    `on_engine(engine)` runs on the container's engine first."""
    container, client = await open_gateway(url, planner=True)
    if on_engine is not None:
        on_engine(container.engine)
    try:
        async with client:
            answer = await Gateway(container, client).ask(TWO_ROOTS, {"n": 3}, ADMIN)
    finally:
        await container.aclose()
    assert "errors" not in answer.body, answer.body
    body: dict[str, Any] = answer.body
    return body
