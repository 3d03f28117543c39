"""Readiness and start-up report a database the migrations have not reached."""

from __future__ import annotations

from pathlib import Path

import httpx
import structlog

from gateway.app import create_app
from gateway.container import build_container
from gateway.settings import Settings
from persistence import migrate
from persistence.schema_version import script_revisions

EXPECTED = script_revisions()[1]


async def test_an_unmigrated_database_is_not_ready_until_migrated(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    settings = Settings(database={"url": url})
    container = build_container(settings)
    app = create_app(settings, container)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway.test"
        ) as client:
            before = await client.get("/health/ready")
            await migrate.upgrade(url)
            after = await client.get("/health/ready")
    finally:
        await container.aclose()
    assert (before.status_code, before.json()) == (
        503,
        {
            "status": "unavailable",
            "checks": {"database": "not migrated"},
            "migrations": {
                "current": None,
                "expected": EXPECTED,
                "fix": f"the database is at no revision but the code expects {EXPECTED}: "
                "run `gateway db upgrade`",
            },
        },
    )
    assert (after.status_code, after.json()) == (
        200,
        {"status": "ready", "checks": {"database": "ok"}},
    )


async def test_start_up_logs_one_line_with_the_fix(tmp_path: Path) -> None:
    settings = Settings(database={"url": f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"})
    container = build_container(settings)
    app = create_app(settings, container)
    with structlog.testing.capture_logs() as logs:
        async with app.router.lifespan_context(app):
            pass
    errors = [
        (entry["log_level"], entry["event"]) for entry in logs if entry["log_level"] == "error"
    ]
    assert errors == [
        (
            "error",
            f"the database is at no revision but the code expects {EXPECTED}: "
            "run `gateway db upgrade`",
        )
    ]


async def test_a_newer_unknown_revision_keeps_the_replica_ready(tmp_path: Path) -> None:
    # A rolling deploy migrates for the next release while this one still serves.
    url = f"sqlite+aiosqlite:///{tmp_path / 'newer.db'}"
    await migrate.upgrade(url)
    settings = Settings(database={"url": url})
    container = build_container(settings)
    async with container.engine.begin() as connection:
        await connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    app = create_app(settings, container)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway.test"
        ) as client:
            ready = await client.get("/health/ready")
    finally:
        await container.aclose()
    assert (ready.status_code, ready.json()) == (
        200,
        {"status": "ready", "checks": {"database": "ok"}},
    )
