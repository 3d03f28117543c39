"""The planner is installed only on Postgres, and only while GRAPHQL__PLANNER is on."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.container import planner_on
from gateway.settings import Settings
from persistence.database import create_engine


def _settings(url: str, *, planner: bool) -> Settings:
    return Settings(
        database={"url": url},
        security={"secret_key": "s" * 40},
        graphql={"planner": planner},
    )


async def test_sqlite_keeps_the_resolver_path(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'planner.db'}"
    engine = create_engine(url)
    try:
        assert not planner_on(_settings(url, planner=True), engine)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("enabled", [True, False])
async def test_postgres_has_the_planner_unless_it_is_turned_off(
    enabled: bool,
) -> None:
    # Building an engine does not connect, so no server is needed here.
    url = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    engine = create_engine(url)
    try:
        assert planner_on(_settings(url, planner=enabled), engine) is enabled
    finally:
        await engine.dispose()
