"""Readiness follows PostgreSQL going away and coming back, without a restart."""

from __future__ import annotations

import os
import secrets

import sqlalchemy as sa

from gateway.app import create_app
from gateway.settings import Settings
from persistence import migrate
from tests.gateway.observability.proxy import TcpProxy
from tests.gateway.observability.readiness import cut_and_restore
from tests.helpers import postgres_admin_sql
from tests.services import POSTGRES_ADMIN_URL, POSTGRES_HOST, POSTGRES_PORT, require_service


async def test_readiness_is_503_while_postgres_is_cut_and_recovers(
    postgres_available: bool,
) -> None:
    require_service("PostgreSQL", postgres_available)
    # A migrated database of its own: readiness also checks the migration revision.
    name = f"readiness_{os.getpid()}_{secrets.token_hex(4)}"
    await postgres_admin_sql(f'CREATE DATABASE "{name}"')
    try:
        direct = sa.make_url(POSTGRES_ADMIN_URL).set(database=name)
        await migrate.upgrade(direct.render_as_string(hide_password=False))
        async with TcpProxy(POSTGRES_HOST, POSTGRES_PORT) as proxy:
            url = direct.set(host="127.0.0.1", port=proxy.port)
            settings = Settings(
                database={"url": url.render_as_string(hide_password=False)},
                health={"timeout_seconds": 1.0},
            )
            app = create_app(settings)
            try:
                # The database check is the one that moves; "database" is also the dependency.
                await cut_and_restore(app, proxy, "database")
            finally:
                await app.state.container.aclose()
    finally:
        await postgres_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
