"""DATABASE__STATEMENT_TIMEOUT_SECONDS: PostgreSQL cancels a long statement, and the
caller sees the usual timeout (TIMEOUT, 504 on REST), not a masked internal error."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from domain.errors import TimedOutError
from gateway.app import create_app
from gateway.container import Container, build_container
from gateway.settings import Settings
from schema.errors import rule_for
from tests.services import POSTGRES_ADMIN_URL, require_service


def _container() -> Container:
    settings = Settings(
        database={"url": POSTGRES_ADMIN_URL, "statement_timeout_seconds": 0.2},
        security={"secret_key": "s" * 40},
        rate_limit={"enabled": False},
        graphql={"report_cost": False, "planner": False},
    )
    return build_container(settings)


async def test_a_statement_past_the_timeout_is_cancelled_as_timed_out(
    postgres_available: bool,
) -> None:
    require_service("PostgreSQL", postgres_available)
    container = _container()
    try:
        async with container.engine.connect() as conn:
            setting = (await conn.execute(sa.text("SHOW statement_timeout"))).scalar_one()
            with pytest.raises(TimedOutError) as timed_out:
                await conn.execute(sa.text("SELECT pg_sleep(30)"))
    finally:
        await container.aclose()
    assert (setting, str(timed_out.value), rule_for(timed_out.value).code) == (
        "200ms",
        "a database statement took too long",
        "TIMEOUT",
    )


async def test_a_timed_out_statement_answers_the_usual_timeout_error(
    postgres_available: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_service("PostgreSQL", postgres_available)
    container = _container()

    async def slow_page(*_args: Any, **_kwargs: Any) -> Any:
        async with container.engine.connect() as conn:
            await conn.execute(sa.text("SELECT pg_sleep(30)"))

    monkeypatch.setattr(container.services.entities["Item"], "page", slow_page)
    app = create_app(container.settings, container)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            graphql = await http.post("/graphql", json={"query": "{ items { totalCount } }"})
            rest = await http.get("/api/v1/items")
    finally:
        await container.aclose()
    assert graphql.json() == {
        "data": None,
        "errors": [
            {
                "message": "a database statement took too long",
                "locations": [{"line": 1, "column": 3}],
                "path": ["items"],
                "extensions": {"code": "TIMEOUT"},
            }
        ],
    }
    assert (rest.status_code, rest.json()["type"], rest.json()["detail"]) == (
        504,
        "https://python-api-base.dev/problems/timeout",
        "a database statement took too long",
    )
