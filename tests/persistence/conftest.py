"""Database fixtures: a migrated SQLite file per test, a fresh Postgres database per session.

Several engineers run the suite at once on one server, so the Postgres database gets a
unique name and is dropped at the end; inside the session, each test starts from
empty tables and ids from 1 (tests.persistence.databases.EMPTY_POSTGRES).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence import migrate
from persistence.database import create_engine
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.helpers import scratch_postgres_database
from tests.orders import unit_of_work_factory
from tests.persistence.databases import EMPTY_POSTGRES, sqlite_url_for
from tests.services import require_service


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per session; tests get copies."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    asyncio.run(migrate.upgrade(sqlite_url_for(path)))
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated, empty SQLite database file of this test's own."""
    path = tmp_path / "test.db"
    shutil.copyfile(sqlite_template, path)
    return sqlite_url_for(path)


@pytest.fixture(scope="session")
def postgres_database(postgres_available: bool) -> Iterator[str]:
    """The URL of a freshly created and migrated database, unique to this test session."""
    require_service("PostgreSQL", postgres_available)
    with scratch_postgres_database("gw_test_persistence") as url:
        asyncio.run(migrate.upgrade(url))
        yield url


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """The session's migrated Postgres database (tables emptied by `engine`)."""
    return postgres_database


async def _empty(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(EMPTY_POSTGRES)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if backend == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on an empty, migrated database of the parametrised backend."""
    created = create_engine(database_url)
    try:
        if created.dialect.name == "postgresql":
            await _empty(created)
        yield created
    finally:
        await created.dispose()


@pytest.fixture
def uow_factory(engine: AsyncEngine) -> SqlUnitOfWorkFactory:
    return unit_of_work_factory(engine)


@pytest.fixture
async def postgres_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    """For tests under postgres/: an engine on the emptied session database."""
    created = create_engine(postgres_url)
    try:
        await _empty(created)
        yield created
    finally:
        await created.dispose()
