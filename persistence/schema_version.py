"""Which migration the database is at, and which one the code expects, without Alembic.

Readiness asks on every probe and the app at start-up; importing Alembic (and loading
its scripts as modules) would add a second to every start, so the scripts' `revision`
and `down_revision` assignments are read as text, and the version table with one query.
`persistence.migrate` stays the tool that runs migrations.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

VERSIONS = Path(__file__).parent / "migrations" / "versions"


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """The database's revision against the newest one the code knows."""

    current: str | None
    expected: str | None
    known: frozenset[str]

    @property
    def behind(self) -> bool:
        """The code needs migrations the database has not had (an unknown, newer one is ok)."""
        return self.current != self.expected and (
            self.current is None or self.current in self.known
        )

    def fix(self) -> str:
        return (
            f"the database is at {self.current or 'no revision'} but the code expects "
            f"{self.expected}: run `gateway db upgrade`"
        )


def _assignments(path: Path) -> dict[str, object]:
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        for target in targets:
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                value = getattr(node, "value", None)
                if value is not None:
                    found[target.id] = ast.literal_eval(value)
    return found


def script_revisions(versions: Path = VERSIONS) -> tuple[frozenset[str], str | None]:
    """Every revision in the scripts, and the head (None without scripts or with several)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(versions.glob("*.py")):
        found = _assignments(path)
        revision = found.get("revision")
        if not isinstance(revision, str):
            continue
        revisions.add(revision)
        down = found.get("down_revision")
        parents.update([down] if isinstance(down, str) else list(down or ()))  # type: ignore[call-overload]  # a tuple at a merge point
    heads = revisions - parents
    return frozenset(revisions), next(iter(heads)) if len(heads) == 1 else None


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's revision; None when it has none (never migrated).

    Raises sqlalchemy's errors when the database does not answer.
    """
    async with engine.connect() as connection:
        has_table = await connection.run_sync(
            lambda sync: sa.inspect(sync).has_table("alembic_version")
        )
        if not has_table:
            return None
        row = await connection.execute(sa.text("SELECT version_num FROM alembic_version"))
        return row.scalar_one_or_none()


async def schema_version(engine: AsyncEngine, versions: Path = VERSIONS) -> SchemaVersion:
    known, expected = script_revisions(versions)
    return SchemaVersion(await current_revision(engine), expected, known)


@dataclass(frozen=True, slots=True)
class QuickStatus:
    """What `make run` needs to know before deciding to migrate or seed."""

    version: SchemaVersion
    seed: int | None  # the demo seed's marker, when the database has one


async def quick_status(url: str, versions: Path = VERSIONS) -> QuickStatus:
    """The revision and the seed marker, read over a bare SQLAlchemy engine.

    `gateway db upgrade` and `gateway seed --once` ask this first: when there is nothing
    to do they answer without importing the models, Alembic or the application (seconds
    of `make run`'s start on a busy machine). Raises sqlalchemy's errors.
    """
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    known, expected = script_revisions(versions)
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(sa.inspect(sync).get_table_names()))
            current = None
            if "alembic_version" in tables:
                found = await connection.execute(sa.text("SELECT version_num FROM alembic_version"))
                current = found.scalar_one_or_none()
            seed = None
            if "demo_seed" in tables:
                marker = await connection.execute(
                    sa.text("SELECT seed FROM demo_seed ORDER BY id LIMIT 1")
                )
                seed = marker.scalar_one_or_none()
    finally:
        await engine.dispose()
    return QuickStatus(SchemaVersion(current, expected, known), seed)
