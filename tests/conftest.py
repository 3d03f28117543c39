"""Shared test fixtures: which real services are available (see tests/services.py)."""

from __future__ import annotations

import pytest
from hypothesis import settings

from tests.services import (
    POSTGRES_ADMIN_URL,
    POSTGRES_HOST,
    POSTGRES_PORT,
    REDIS_URL,
    REQUIRE_SERVICES,
    reachable,
    redis_host_port,
    require_service,
)

# Transitional: tests import these from tests.services now.
__all__ = ["POSTGRES_ADMIN_URL", "REDIS_URL", "REQUIRE_SERVICES", "require_service"]

# No per-example deadline (Hypothesis's default is 200 ms): the suite runs in several
# workers on a shared machine, where a GC pause or a busy core can slow one example
# past any wall-clock bound; a test that is about time bounds controls its own clock.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    return reachable(POSTGRES_HOST, POSTGRES_PORT)


@pytest.fixture(scope="session")
def redis_available() -> bool:
    return reachable(*redis_host_port())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests under tests/**/postgres/ or tests/**/redis/ get the marker from their folder.
    for item in items:
        parts = item.path.parts
        if "postgres" in parts:
            item.add_marker(pytest.mark.postgres)
        if "redis" in parts:
            item.add_marker(pytest.mark.redis)
