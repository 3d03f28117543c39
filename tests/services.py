"""Where the real services the tests need are, and whether CI requires them.

`GW_REQUIRE_SERVICES=1` (set by CI) turns a missing PostgreSQL or Redis into a failure
instead of a skip, so nothing is silently left untested there.
"""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_HOST = os.environ.get("GW_TEST_PG_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("GW_TEST_PG_PORT", "5432"))
POSTGRES_ADMIN_URL = os.environ.get(
    "GW_TEST_PG_ADMIN_URL",
    f"postgresql+asyncpg://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/postgres",
)
REDIS_URL = os.environ.get("GW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("GW_REQUIRE_SERVICES") == "1"


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def redis_host_port() -> tuple[str, int]:
    rest = REDIS_URL.split("://", 1)[1].split("/", 1)[0]
    host, _, port = rest.rpartition(":")
    return host or "127.0.0.1", int(port or 6379)


def require_service(name: str, available: bool) -> None:
    """Skip (locally) or fail (CI) when a real service a test needs is missing."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{name} is required (GW_REQUIRE_SERVICES=1) but not reachable")
    pytest.skip(f"{name} is not reachable")
