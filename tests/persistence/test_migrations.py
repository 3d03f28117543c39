"""Migrations: up, down to nothing and up again on both backends; the models and the
migrations agree; a revision written from the models runs on SQLite and Postgres.

Nothing here names a revision or a table: the head comes from the scripts and the
tables from the models, so adding an entity (and its migration) changes no test.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel.sql.sqltypes import AutoString

from gateway.container import application_tables
from persistence import migrate, tables
from persistence.database import create_engine
from tests.helpers import scratch_postgres_database
from tests.persistence.databases import sqlite_url_for
from tests.services import require_service

MODELS = application_tables()
APP_TABLES = set(MODELS.tables)
HEAD = migrate.head()


@pytest.fixture
def empty_database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of the parametrised backend that has never been migrated."""
    if backend == "sqlite":
        yield sqlite_url_for(tmp_path / "fresh.db")
        return
    require_service("PostgreSQL", bool(request.getfixturevalue("postgres_available")))
    with scratch_postgres_database("gw_test_migrations") as url:
        yield url


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def _indexes(url: str, names: set[str]) -> dict[str, list[str]]:
    engine = create_engine(url)

    def read(connection: Connection) -> dict[str, list[str]]:
        inspector = sa.inspect(connection)
        # SQLite lists the indexes behind unique constraints too; only declared ones count.
        return {
            t: sorted(
                n for i in inspector.get_indexes(t) if (n := str(i["name"])).startswith("ix_")
            )
            for t in sorted(names)
        }

    try:
        async with engine.connect() as conn:
            return await conn.run_sync(read)
    finally:
        await engine.dispose()


def _declared_indexes(metadata: sa.MetaData) -> dict[str, list[str]]:
    return {
        name: sorted(str(i.name) for i in table.indexes)
        for name, table in sorted(metadata.tables.items())
    }


async def test_migrations_go_up_down_and_up_again(empty_database: str) -> None:
    await migrate.upgrade(empty_database)
    await migrate.downgrade(empty_database, "base")
    after_down = (await migrate.current(empty_database), await _tables(empty_database))
    await migrate.upgrade(empty_database)
    after_up = (await migrate.current(empty_database), await _tables(empty_database))
    assert after_down == (None, {"alembic_version"})
    assert after_up == (HEAD, APP_TABLES | {"alembic_version"})
    assert await _indexes(empty_database, APP_TABLES) == _declared_indexes(MODELS)


async def test_a_database_upgraded_to_head_matches_the_models(empty_database: str) -> None:
    await migrate.upgrade(empty_database)
    assert migrate.describe(await migrate.drift(empty_database, MODELS)) == []


def test_every_constraint_and_index_in_the_models_has_a_stable_name() -> None:
    unnamed = [
        f"{table.name}: {type(item).__name__}"
        for table in MODELS.sorted_tables
        for item in [*table.constraints, *table.indexes]
        if not isinstance(item, sa.PrimaryKeyConstraint) and getattr(item, "name", None) is None
    ]
    assert unnamed == []


# --- writing a revision from the models -------------------------------------------------


def _models_with_warehouses() -> sa.MetaData:
    """The application's models plus a table using every kind of column an entity may have."""
    metadata = sa.MetaData(naming_convention=tables.NAMING_CONVENTION)
    for table in MODELS.tables.values():
        table.to_metadata(metadata)
    sa.Table(
        "warehouses",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "name",
            sa.String(200).with_variant(sa.String(200, collation="C"), "postgresql"),
            nullable=False,
            unique=True,
        ),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("code", AutoString(20), nullable=True),
        sa.Column("rating", sa.Integer, nullable=False),
        sa.Column("rate", sa.Numeric(12, 4), nullable=False),
        sa.Column("credit_cents", sa.BigInteger, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("since", tables.UtcDateTime, nullable=False),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.CheckConstraint("rating >= 0", name="rating_nonnegative"),
        sqlite_autoincrement=True,
    )
    return metadata


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the migration scripts with a revision written for the warehouses table."""
    copy = tmp_path_factory.mktemp("migrations") / "migrations"
    shutil.copytree(migrate.MIGRATIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    asyncio.run(
        migrate.revision("add warehouses", scripts=copy, metadata=_models_with_warehouses())
    )
    return copy


def _written(scripts: Path) -> migrate.Revision:
    return migrate.history(scripts)[0]


def test_a_revision_is_numbered_after_the_head_and_named_by_its_message(scripts: Path) -> None:
    assert HEAD is not None
    expected = f"{int(HEAD) + 1:04d}"
    assert _written(scripts) == migrate.Revision(
        expected, HEAD, "add warehouses", scripts / "versions" / f"{expected}_add_warehouses.py"
    )


def test_a_revision_imports_nothing_of_the_application(scripts: Path) -> None:
    source = _written(scripts).path.read_text()
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    columns = [line.strip() for line in source.splitlines() if "sa.Column(" in line]
    assert imports == [
        "from collections.abc import Sequence",
        "import sqlalchemy as sa",
        "from alembic import op",
    ]
    assert columns == [
        "sa.Column('id', sa.Integer(), nullable=False),",
        "sa.Column('name', sa.String(length=200).with_variant("
        "sa.String(length=200, collation='C'), 'postgresql'), nullable=False),",
        "sa.Column('notes', sa.Text(), nullable=False),",
        "sa.Column('code', sa.String(length=20), nullable=True),",
        "sa.Column('rating', sa.Integer(), nullable=False),",
        "sa.Column('rate', sa.Numeric(precision=12, scale=4), nullable=False),",
        "sa.Column('credit_cents', sa.BigInteger(), nullable=False),",
        "sa.Column('active', sa.Boolean(), nullable=False),",
        "sa.Column('since', sa.DateTime(timezone=True), nullable=False),",
        "sa.Column('owner_id', sa.Integer(), nullable=False),",
    ]


async def test_a_revision_upgrades_and_downgrades_both_databases(
    scripts: Path, empty_database: str
) -> None:
    written = _written(scripts)
    extended = _models_with_warehouses()
    await migrate.upgrade(empty_database, scripts=scripts)
    at_head = (await migrate.current(empty_database), await _tables(empty_database))
    drift_at_head = migrate.describe(await migrate.drift(empty_database, extended))
    indexes = await _indexes(empty_database, {"warehouses"})
    await migrate.downgrade(empty_database, str(written.down), scripts=scripts)
    after_down = (await migrate.current(empty_database), await _tables(empty_database))

    assert at_head == (written.id, APP_TABLES | {"warehouses", "alembic_version"})
    assert drift_at_head == []
    assert indexes == {"warehouses": ["ix_warehouses_owner_id"]}
    assert after_down == (HEAD, APP_TABLES | {"alembic_version"})
    assert migrate.describe(await migrate.drift(empty_database, MODELS)) == []


# --- refusals ---------------------------------------------------------------------------


@pytest.fixture
def scripts_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _files(scripts: Path) -> list[str]:
    return sorted(p.name for p in (scripts / "versions").glob("*.py"))


async def test_models_that_match_the_migrations_write_no_revision(scripts_copy: Path) -> None:
    before = _files(scripts_copy)
    with pytest.raises(migrate.MigrationError) as refused:
        await migrate.revision("nothing", scripts=scripts_copy, metadata=MODELS)
    assert str(refused.value) == (
        f"the models match the migrations at {HEAD}: no revision written "
        "(--empty writes one for hand-written operations)"
    )
    assert _files(scripts_copy) == before


async def test_a_revision_that_does_not_run_is_not_kept(scripts_copy: Path) -> None:
    before = _files(scripts_copy)
    broken = _models_with_warehouses()
    broken.tables["warehouses"].append_constraint(sa.CheckConstraint("nope > 0", name="nope"))
    with pytest.raises(migrate.MigrationError) as refused:
        await migrate.revision("broken", scripts=scripts_copy, metadata=broken)
    assert str(refused.value).startswith(
        f"{int(str(HEAD)) + 1:04d}_broken.py does not upgrade: "
        "(sqlite3.OperationalError) no such column: nope"
    )
    assert _files(scripts_copy) == before


async def test_a_revision_needs_a_message(scripts_copy: Path) -> None:
    with pytest.raises(migrate.MigrationError) as refused:
        await migrate.revision("  ", scripts=scripts_copy, metadata=_models_with_warehouses())
    assert str(refused.value) == "a revision needs a message (-m)"


async def test_two_heads_are_refused_until_merged(scripts_copy: Path) -> None:
    for branch in ("a", "b"):
        (scripts_copy / "versions" / f"branch_{branch}.py").write_text(
            f"revision = 'branch_{branch}'\ndown_revision = {HEAD!r}\n"
            "branch_labels = None\ndepends_on = None\n\n"
            "def upgrade() -> None: ...\n\ndef downgrade() -> None: ...\n"
        )
    message = (
        "the migrations have 2 heads (branch_a, branch_b): merge the branches into one before "
        "going on"
    )
    with pytest.raises(migrate.MigrationError) as refused:
        await migrate.revision("more", scripts=scripts_copy, metadata=_models_with_warehouses())
    assert str(refused.value) == message


async def test_a_revision_can_compare_against_a_given_database_at_head(
    scripts_copy: Path, empty_database: str
) -> None:
    await migrate.upgrade(empty_database, scripts=scripts_copy)
    written = await migrate.revision(
        "add warehouses",
        against=empty_database,
        scripts=scripts_copy,
        metadata=_models_with_warehouses(),
    )
    assert (written.down, written.path.exists()) == (HEAD, True)
    assert (await migrate.current(empty_database), await _tables(empty_database)) == (
        HEAD,
        APP_TABLES | {"alembic_version"},
    )


async def test_a_database_behind_the_head_is_refused_as_the_base_of_a_revision(
    scripts_copy: Path, tmp_path: Path
) -> None:
    behind = sqlite_url_for(tmp_path / "behind.db")
    before = _files(scripts_copy)
    with pytest.raises(migrate.MigrationError) as refused:
        await migrate.revision(
            "add warehouses",
            against=behind,
            scripts=scripts_copy,
            metadata=_models_with_warehouses(),
        )
    assert str(refused.value) == "Target database is not up to date."
    assert _files(scripts_copy) == before


# --- an association's pairs made unique in a later revision ----------------------------


def _models_with_shelvings(*, each_pair_once: bool) -> sa.MetaData:
    """The application's models plus a many-to-many's association table as
    `persistence.entities.declared_table` derives it, with or without the unique pair."""
    metadata = sa.MetaData(naming_convention=tables.NAMING_CONVENTION)
    for table in MODELS.tables.values():
        table.to_metadata(metadata)
    pair = [sa.UniqueConstraint("item_id", "user_id", name="uq_shelvings_item_id_user_id")]
    sa.Table(
        "shelvings",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "item_id",
            sa.Integer,
            sa.ForeignKey("items.id", name="fk_shelvings_item_id_items"),
            nullable=False,
            index=True,
        ),
        sa.Column(
            "user_id",
            sa.Integer,
            sa.ForeignKey("users.id", name="fk_shelvings_user_id_users"),
            nullable=False,
            index=True,
        ),
        *(pair if each_pair_once else []),
        sqlite_autoincrement=True,
    )
    return metadata


async def _unique_constraints(url: str, table: str) -> list[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            found = await conn.run_sync(lambda c: sa.inspect(c).get_unique_constraints(table))
            return sorted(str(u["name"]) for u in found)
    finally:
        await engine.dispose()


async def test_an_associations_unique_pair_is_added_by_the_next_revision(
    scripts_copy: Path, empty_database: str
) -> None:
    before = _models_with_shelvings(each_pair_once=False)
    after = _models_with_shelvings(each_pair_once=True)
    await migrate.revision("add shelvings", scripts=scripts_copy, metadata=before)
    await migrate.revision("shelvings link each pair once", scripts=scripts_copy, metadata=after)
    added, created = migrate.history(scripts_copy)[:2]
    source = added.path.read_text()
    assert "batch_op.create_unique_constraint('uq_shelvings_item_id_user_id'" in source, source

    await migrate.upgrade(empty_database, str(created.id), scripts=scripts_copy)
    without = await _unique_constraints(empty_database, "shelvings")
    await migrate.upgrade(empty_database, scripts=scripts_copy)
    with_pair = await _unique_constraints(empty_database, "shelvings")
    drift_at_head = migrate.describe(await migrate.drift(empty_database, after))
    await migrate.downgrade(empty_database, str(created.id), scripts=scripts_copy)
    drift_after_down = migrate.describe(await migrate.drift(empty_database, before))

    assert (without, with_pair) == ([], ["uq_shelvings_item_id_user_id"])
    assert (drift_at_head, drift_after_down) == ([], [])
