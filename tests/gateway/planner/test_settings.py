"""The planner is installed on both databases, unless GRAPHQL__PLANNER is off."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.container import build_read_model
from gateway.settings import Settings
from persistence.database import create_engine


def _settings(url: str, *, planner: bool) -> Settings:
    return Settings(
        database={"url": url},
        security={"secret_key": "s" * 40},
        graphql={"planner": planner},
    )


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_the_planner_is_on_unless_it_is_turned_off(
    tmp_path: Path, backend: str, enabled: bool
) -> None:
    # Building an engine does not connect, so no server is needed here.
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'planner.db'}"
        if backend == "sqlite"
        else "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    engine = create_engine(url)
    try:
        assert (build_read_model(_settings(url, planner=enabled), engine) is not None) is enabled
    finally:
        await engine.dispose()
