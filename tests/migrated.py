"""A database at the migrations' head for a test, without running every migration again.

Most gateway and entity tests start from a new SQLite file: running all the migrations
on it took 60-150 ms a test (over a thousand tests), a copy of a file migrated once
well under 1 ms, and the migrations write the same schema each time. So a new SQLite
file is a copy of one this process migrated once (with any test-only tables); any other
database (Postgres, an existing file) is upgraded as before. The migrations themselves
are run and checked by tests/persistence/test_migrations.py.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import sqlalchemy as sa

from persistence import migrate
from persistence.database import create_engine

# Templates made so far in this process, by the test-only tables they also hold.
_templates: dict[tuple[int, ...], Path] = {}
_folder = tempfile.TemporaryDirectory(prefix="gw-test-migrated-")


async def _migrate(url: str, also: tuple[sa.MetaData, ...]) -> None:
    await migrate.upgrade(url)
    if not also:
        return
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for metadata in also:
                await conn.run_sync(metadata.create_all)
    finally:
        await engine.dispose()


def _new_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL that does not exist yet, else None."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:" or parsed.query.get("mode") == "memory":
        return None
    path = Path(parsed.database)
    return None if path.exists() else path


async def _template(also: tuple[sa.MetaData, ...]) -> Path:
    key = tuple(id(metadata) for metadata in also)
    found = _templates.get(key)
    if found is None:
        # Migrated under a name of its own first: a test that fails half way through
        # leaves no half-migrated template for the next one to copy.
        staging = Path(_folder.name) / f"staging-{len(_templates)}.db"
        await _migrate(f"sqlite+aiosqlite:///{staging}", also)
        found = Path(_folder.name) / f"template-{len(_templates)}.db"
        os.replace(staging, found)
        _templates[key] = found
    return found


async def upgrade(url: str, *, also: tuple[sa.MetaData, ...] = ()) -> None:
    """Bring the database at `url` to the migrations' head, and create the tables of
    `also` (test-only entities) in it."""
    path = _new_sqlite_file(url)
    if path is None:
        await _migrate(url, also)
        return
    shutil.copyfile(await _template(also), path)
