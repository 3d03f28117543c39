"""The planner tests here are about Postgres itself: they run on its database alone."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def planner_database_url(postgres_planner_url: str) -> str:
    return postgres_planner_url
