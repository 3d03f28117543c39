"""Alembic environment: async engines, SQLite and Postgres, batch mode for SQLite ALTERs.

`persistence.migrate` passes an open connection in `config.attributes["connection"]`
(and, in tests, other models in `config.attributes["target_metadata"]`); the alembic CLI
(with `-x url=...` or `sqlalchemy.url`) gets its own engine here. Autogenerate renders
column types through `persistence.autogenerate`, so a migration imports nothing of the
application.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from persistence import autogenerate, migrate
from persistence.database import create_engine

config = context.config
target_metadata = config.attributes.get("target_metadata")
if target_metadata is None:
    target_metadata = migrate.target_metadata()


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite alters a table by copying it; batch mode emits that from plain ALTERs.
        render_as_batch=True,
        compare_type=True,
        render_item=autogenerate.render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_configure)
    finally:
        await engine.dispose()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set sqlalchemy.url")
    return url


if context.is_offline_mode():
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        render_as_batch=True,
        render_item=autogenerate.render_item,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
    else:
        asyncio.run(_run_with_own_engine(_url()))
