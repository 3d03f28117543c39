"""Run and write the Alembic migrations from code: no alembic.ini needed.

await migrate.upgrade("sqlite+aiosqlite:///app.db")
await migrate.downgrade(url, "base")
await migrate.current(url)             # -> "0001" or None
migrate.head()                         # -> the newest revision in the scripts
await migrate.revision("add suppliers")  # autogenerate from the models, checked, written

A revision is compared against a scratch SQLite database upgraded to the current head, so
what a developer's own database holds never leaks into it; the written file is then run
up and down on another scratch database before the command reports success.
"""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.operations.ops import MigrationScript
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection

from persistence import tables
from persistence.database import create_engine

MIGRATIONS = Path(__file__).parent / "migrations"
# Revision ids are sequence numbers ("0001", "0002", ...), so files sort in the order
# they run and two branches adding the same number collide visibly when merged.
_SEQUENTIAL_ID = re.compile(r"\d{4,}")


class MigrationError(Exception):
    """A migration could not be written or run; the message is one line naming why."""


@dataclass(frozen=True, slots=True)
class Revision:
    """One migration script: its id, the one it follows, its message and file."""

    id: str
    down: str | None
    message: str
    path: Path


def target_metadata() -> sa.MetaData:
    """The metadata migrations follow by default: the fixed tables and the declared
    entities' tables derived so far (`gateway.container.application_tables` derives
    them all; persistence cannot import the declarations)."""
    return tables.METADATA


def alembic_config(
    url: str | None = None,
    *,
    scripts: Path = MIGRATIONS,
    metadata: sa.MetaData | None = None,
) -> Config:
    """An Alembic Config for the scripts in `scripts` (default `persistence/migrations`).

    `metadata` replaces the application's tables as autogenerate's target (tests use it).
    """
    config = Config()
    config.set_main_option("script_location", str(scripts))
    if url is not None:
        # configparser treats % as interpolation; URLs may contain escaped characters.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if metadata is not None:
        config.attributes["target_metadata"] = metadata
    return config


async def _on_connection[T](url: str, work: Callable[[Connection], T]) -> T:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(work)
    except CommandError as exc:
        raise MigrationError(str(exc)) from None
    finally:
        await engine.dispose()


async def upgrade(url: str, revision: str = "head", *, scripts: Path = MIGRATIONS) -> None:
    """Migrate the database at `url` up to `revision`."""
    config = alembic_config(url, scripts=scripts)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    await _on_connection(url, run)


async def downgrade(url: str, revision: str, *, scripts: Path = MIGRATIONS) -> None:
    """Migrate the database at `url` down to `revision` ("base" empties it)."""
    config = alembic_config(url, scripts=scripts)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    await _on_connection(url, run)


async def current(url: str) -> str | None:
    """The revision the database is at, or None before the first migration."""
    engine = create_engine(url)

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    try:
        async with engine.connect() as conn:
            return await conn.run_sync(read)
    finally:
        await engine.dispose()


def _script_directory(scripts: Path) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(scripts=scripts))


def _revision(script: Script) -> Revision:
    down = script.down_revision
    if isinstance(down, tuple | list):  # a merge point follows several
        down = ",".join(down)
    return Revision(script.revision, down, script.doc or "", Path(script.path))


def head(scripts: Path = MIGRATIONS) -> str | None:
    """The newest revision in the scripts (None if there are none).

    Raises MigrationError if the scripts have several heads (branches not merged).
    """
    heads = _script_directory(scripts).get_heads()
    if len(heads) > 1:
        raise MigrationError(
            f"the migrations have {len(heads)} heads ({', '.join(sorted(heads))}): "
            "merge the branches into one before going on"
        )
    return heads[0] if heads else None


def history(scripts: Path = MIGRATIONS) -> list[Revision]:
    """Every revision, newest first."""
    return [_revision(s) for s in _script_directory(scripts).walk_revisions()]


async def drift(url: str, metadata: sa.MetaData | None = None) -> list[Any]:
    """What autogenerate would change to make the database at `url` match the models.

    Empty when models and migrations agree (Alembic's own version table aside).
    """
    target = metadata if metadata is not None else target_metadata()

    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, target))

    return await _on_connection(url, diff)


def _next_id(directory: ScriptDirectory) -> str | None:
    ids = [s.revision for s in directory.walk_revisions()]
    if not all(_SEQUENTIAL_ID.fullmatch(i) for i in ids):
        return None  # someone chose their own ids; let Alembic pick a random one
    return f"{max((int(i) for i in ids), default=0) + 1:04d}"


def _sqlite(folder: str, name: str) -> str:
    return f"sqlite+aiosqlite:///{Path(folder) / name}"


async def revision(
    message: str,
    *,
    against: str | None = None,
    scripts: Path = MIGRATIONS,
    metadata: sa.MetaData | None = None,
    empty: bool = False,
) -> Revision:
    """Write the migration that brings the database at head to the models, and check it.

    Autogenerate compares the models with `against` (a database at head), by default a
    scratch SQLite database upgraded to head. The written file must then upgrade a fresh
    database to exactly the models and downgrade again, or it is removed. `empty` writes
    a revision with no operations (for a hand-written data migration).

    Raises MigrationError when the models already match (and not `empty`), the scripts
    have several heads, `against` is not at head, or the written migration fails its check.
    """
    if not message.strip():
        raise MigrationError("a revision needs a message (-m)")
    directory = _script_directory(scripts)
    parent = head(scripts)
    target = metadata if metadata is not None else target_metadata()
    nothing_to_do: list[bool] = []

    def keep_only_changes(_context: Any, _revision: Any, directives: list[Any]) -> None:
        script = directives[0]
        assert isinstance(script, MigrationScript)
        if not empty and all(ops.is_empty() for ops in script.upgrade_ops_list):
            directives.clear()
            nothing_to_do.append(True)
        elif empty:
            script.upgrade_ops_list[0].ops.clear()
            script.downgrade_ops_list[0].ops.clear()

    with tempfile.TemporaryDirectory(prefix="gateway-revision-") as folder:
        url = against or _sqlite(folder, "head.db")
        if against is None:
            await upgrade(url, scripts=scripts)
        config = alembic_config(url, scripts=scripts, metadata=target)

        def generate(connection: Connection) -> Script | None:
            config.attributes["connection"] = connection
            with contextlib.redirect_stdout(io.StringIO()):  # Alembic's "Generating ..."
                written = command.revision(
                    config,
                    message=message,
                    autogenerate=True,
                    rev_id=_next_id(directory),
                    process_revision_directives=keep_only_changes,
                )
            if isinstance(written, list):  # empty when `keep_only_changes` dropped it
                return written[0] if written else None
            return written

        written = await _on_connection(url, generate)
        if nothing_to_do or written is None:
            raise MigrationError(
                f"the models match the migrations at {parent}: no revision written "
                "(--empty writes one for hand-written operations)"
            )
        created = _revision(written)
        try:
            await _check(created, parent, _sqlite(folder, "check.db"), scripts, target)
        except BaseException:
            created.path.unlink(missing_ok=True)
            raise
    return created


async def _check(
    created: Revision, parent: str | None, url: str, scripts: Path, target: sa.MetaData
) -> None:
    name = created.path.name
    try:
        await upgrade(url, created.id, scripts=scripts)
    except Exception as exc:
        raise MigrationError(f"{name} does not upgrade: {_one_line(exc)}") from None
    left = await drift(url, target)
    if left:
        raise MigrationError(f"{name} leaves a difference from the models: {describe(left)[0]}")
    try:
        await downgrade(url, parent or "base", scripts=scripts)
    except Exception as exc:
        raise MigrationError(f"{name} does not downgrade: {_one_line(exc)}") from None


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def describe(changes: Iterable[Any]) -> list[str]:
    """Autogenerate's differences as readable lines (`add_table suppliers`, ...)."""
    lines: list[str] = []
    for change in changes:
        if isinstance(change, list):
            lines.extend(describe(change))
            continue
        kind, *rest = change
        names = [getattr(r, "name", None) or getattr(r, "key", None) or str(r) for r in rest]
        lines.append(" ".join([kind, *(str(n) for n in names if n is not None)]))
    return lines
