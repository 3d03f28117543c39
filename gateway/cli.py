"""The `gateway` command: serve, database migrations, seed and schema tooling.

Errors print one readable line to stderr and exit non-zero; no stack traces. Each
command imports what it needs when it runs (settings, SQLAlchemy, the app), so
`gateway --help` does not pay for the whole gateway.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gateway.scaffold.spec import FIELD_KINDS

if TYPE_CHECKING:
    from gateway.settings import Settings
    from persistence.schema_version import QuickStatus

# Plain click help: typer's rich panels cost an import of rich and print `--help <bool>`.
_TYPER = {"no_args_is_help": True, "add_completion": False, "rich_markup_mode": None}
app = typer.Typer(help="Python API Base gateway.", **_TYPER)  # type: ignore[arg-type]  # typer's kwargs are typed one by one
db_app = typer.Typer(help="Database migrations.", **_TYPER)  # type: ignore[arg-type]  # as above
schema_app = typer.Typer(help="The GraphQL schema (SDL).", **_TYPER)  # type: ignore[arg-type]  # as above
app.add_typer(db_app, name="db")
# The first name of the command group; scripts and deployments still call it.
app.add_typer(db_app, name="migrate", help="Database migrations (alias of `gateway db`).")
app.add_typer(schema_app, name="schema")
new_app = typer.Typer(help="Add a part to the project (scaffolding).", **_TYPER)  # type: ignore[arg-type]  # as above
app.add_typer(new_app, name="new")

FIELD_TYPES_HELP = [
    f"{'ref:<Entity>' if k.name == 'ref' else k.name} ({k.description})"
    for k in FIELD_KINDS.values()
]
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema" / "schema.graphql"


def _run[T](coroutine: Coroutine[Any, Any, T]) -> T:
    # asyncio is imported by the commands that run something: `--help` does not pay for it.
    import asyncio

    return asyncio.run(coroutine)


class CliError(Exception):
    """A failure to report as one line."""


def _settings(
    *, warn_unknown: bool = True, flags: dict[str, str] | None = None, **overrides: object
) -> Settings:
    """The settings (command-line `overrides` validated like the variables they stand for)."""
    from gateway.settings import SettingsError, load_settings, unknown_variables

    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        message = str(exc)
        for variable, flag in (flags or {}).items():
            message = message.replace(f" {variable}: ", f" {flag} ({variable}): ")
        raise CliError(message) from None
    if warn_unknown:
        for warning in unknown_variables():
            sys.stderr.write(f"warning: {warning}\n")
    return settings


def _ensure_sqlite_dir(settings: Settings) -> None:
    # The embedded default lives in ./var; create it so a fresh clone just works.
    if settings.database.is_sqlite:
        path = settings.database.url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (SERVER__HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (SERVER__PORT).")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="Worker processes; /metrics and METRICS__PORT report them all, summed."
        ),
    ] = 1,
) -> None:
    """Run the gateway with uvicorn (uvloop, httptools, GC tuned: SERVER__* settings)."""
    settings = _server_settings(host, port)
    _ensure_sqlite_dir(settings)
    _serve(settings, workers)


@app.command()
def demo(
    host: Annotated[str | None, typer.Option(help="Bind address (SERVER__HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (SERVER__PORT).")] = None,
) -> None:
    """Migrate, seed the demo data once and serve, in one process (`make run`)."""
    # One interpreter pays for the imports the three steps share (SQLAlchemy, the
    # models, the domain): about 4 s of CPU less to the first answer than three commands.
    settings = _server_settings(host, port)
    url = _database_url(settings)
    _upgrade(url, "head")
    _seed(settings, users=50, items=40, orders=200, seed_value=42, once=True)
    _serve(settings, 1)


def _server_settings(host: str | None, port: int | None) -> Settings:
    flags = {"host": host, "port": port}
    return _settings(
        # The app logs unknown variables itself, once it has configured logging.
        warn_unknown=False,
        flags={f"SERVER__{name.upper()}": f"--{name}" for name in flags},
        server={name: value for name, value in flags.items() if value is not None},
    )


def _serve(settings: Settings, workers: int) -> None:
    from gateway import server

    server.run(
        settings.server,
        host=settings.server.host,
        port=settings.server.port,
        workers=workers,
        log_level=settings.log_level,
        metrics=settings.metrics,
    )


@app.command()
def probe(
    check: Annotated[
        str,
        typer.Argument(
            help="`live` (the process answers), `ready` (its dependencies) or `worker` "
            "(`gateway worker`'s heartbeat)."
        ),
    ] = "live",
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait.")] = 3.0,
) -> None:
    """Ask this machine's gateway for /health/CHECK on SERVER__PORT (a container HEALTHCHECK);
    `worker`: the age of EVENTS__WORKER_HEARTBEAT_FILE (`gateway worker`'s liveness)."""
    from gateway.http.probe import ProbeError, probe_health

    settings = _settings()
    if check == "worker":
        _probe_worker(settings)
        return
    try:
        typer.echo(probe_health(settings.server, check, timeout=timeout))
    except ProbeError as exc:
        raise CliError(str(exc)) from None


def _probe_worker(settings: Settings) -> None:
    from gateway.background.heartbeat import StaleHeartbeatError, heartbeat_age

    path = settings.events.worker_heartbeat_file
    if not path:
        raise CliError("EVENTS__WORKER_HEARTBEAT_FILE is not set: the worker keeps no heartbeat")
    try:
        age = heartbeat_age(Path(path))
    except StaleHeartbeatError as exc:
        raise CliError(str(exc)) from None
    typer.echo(f"worker alive (heartbeat {age:.0f} s ago)")


def _quick_status(url: str) -> QuickStatus | None:
    """The revision and seed marker, cheaply; None when the database cannot tell (yet)."""
    from sqlalchemy.exc import SQLAlchemyError

    from persistence.schema_version import quick_status

    try:
        return _run(quick_status(url))
    except (OSError, SQLAlchemyError):
        return None  # the full path will say what is wrong, in its own words


@app.command()
def worker() -> None:
    """Run the event handlers (with REDIS__URL; on the embedded default they run in serve)."""
    from gateway.worker import run_worker

    settings = _settings()
    try:
        _run(run_worker(settings))
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _database_url(settings: Settings) -> str:
    _ensure_sqlite_dir(settings)
    return settings.database.url


@contextmanager
def _migrations() -> Iterator[None]:
    from persistence.migrate import MigrationError

    try:
        yield
    except MigrationError as exc:
        raise CliError(str(exc)) from None


def _at(url: str) -> str:
    from persistence import migrate

    return f"database at {_run(migrate.current(url)) or 'base'}"


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    _upgrade(_database_url(_settings()), revision)


def _upgrade(url: str, revision: str) -> None:
    status = _quick_status(url) if revision == "head" else None
    if status is not None and not status.version.behind:
        # Nothing to run: answered without importing Alembic and the models.
        typer.echo(f"database at {status.version.current or 'base'}")
        return
    from persistence import migrate

    with _migrations():
        _run(migrate.upgrade(url, revision))
    typer.echo(_at(url))


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Revert migrations down to REVISION (`base` empties the database)."""
    from persistence import migrate

    url = _database_url(_settings())
    with _migrations():
        _run(migrate.downgrade(url, revision))
    typer.echo(_at(url))


@db_app.command("current")
def db_current() -> None:
    """Print the database's current revision (`base` before the first)."""
    from persistence import migrate

    url = _database_url(_settings())
    typer.echo(_run(migrate.current(url)) or "base")


@db_app.command("history")
def db_history() -> None:
    """List the migrations, newest first (`parent -> revision, message`)."""
    from persistence import migrate

    with _migrations():
        head = migrate.head()
        for revision in migrate.history():
            marker = " (head)" if revision.id == head else ""
            typer.echo(f"{revision.down or 'base'} -> {revision.id}{marker}, {revision.message}")


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Option("--message", "-m", help="What the migration does.")],
    against: Annotated[
        str | None,
        typer.Option(help="Compare with this database (at head) instead of a scratch SQLite."),
    ] = None,
    empty: Annotated[
        bool, typer.Option(help="Write a revision with no operations, to fill in by hand.")
    ] = False,
) -> None:
    """Write the migration from the models to persistence/migrations/versions (autogenerate).

    The new file is checked before it is kept: it must upgrade a fresh SQLite database to
    exactly the models and downgrade it again.
    """
    from gateway.container import application_tables
    from persistence import migrate

    with _migrations():
        written = _run(
            migrate.revision(message, against=against, empty=empty, metadata=application_tables())
        )
    typer.echo(f"wrote {_shown(written.path)} ({written.down or 'base'} -> {written.id})")


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@app.command()
def seed(
    users: Annotated[int, typer.Option(min=1, help="How many users.")] = 50,
    items: Annotated[int, typer.Option(min=1, help="How many catalog items.")] = 40,
    orders: Annotated[int, typer.Option(min=0, help="How many orders.")] = 200,
    seed_value: Annotated[int, typer.Option("--seed", help="Random seed.")] = 42,
    once: Annotated[
        bool,
        typer.Option(
            "--once/--no-once",
            "--if-empty",
            help="Do nothing when the demo data is already there (its marker, not empty tables).",
        ),
    ] = False,
) -> None:
    """Add deterministic demo data and a bootstrap admin (ids follow existing rows)."""
    settings = _settings()
    _ensure_sqlite_dir(settings)
    _seed(settings, users=users, items=items, orders=orders, seed_value=seed_value, once=once)


def _seed(
    settings: Settings, *, users: int, items: int, orders: int, seed_value: int, once: bool
) -> None:
    status = _quick_status(settings.database.url) if once else None
    if status is not None and status.seed is not None and not status.version.behind:
        # The marker is there: answered without importing the models or the seed.
        typer.echo(f"the demo data is already there (seed {status.seed}): nothing seeded")
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    from gateway.demo_seed import NotMigratedError, seed_demo

    with Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        # Only on a terminal, and only while seeding: no stray lines in a pipe.
        transient=True,
        disable=not sys.stdout.isatty(),
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done)

        try:
            report = _run(
                seed_demo(
                    settings,
                    users=users,
                    items=items,
                    orders=orders,
                    seed=seed_value,
                    once=once,
                    on_progress=on_progress,
                )
            )
        except NotMigratedError as exc:
            raise CliError(str(exc)) from None
    typer.echo(report)


@schema_app.command("export")
def schema_export(
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """Write the SDL (default: schema/schema.graphql; `-` for stdout)."""
    from schema import export_sdl

    sdl = export_sdl()
    if output is not None and str(output) == "-":
        sys.stdout.write(sdl)
        return
    target = output or SCHEMA_FILE
    target.write_text(sdl, encoding="utf-8")
    typer.echo(f"wrote {target}")


@schema_app.command("check")
def schema_check(
    file: Annotated[Path, typer.Option("--file", help="The SDL file to compare.")] = SCHEMA_FILE,
) -> None:
    """Fail if the committed SDL differs from the code's schema."""
    from schema import export_sdl

    current = export_sdl()
    committed = file.read_text(encoding="utf-8") if file.exists() else ""
    if current != committed:
        diff = difflib.unified_diff(
            committed.splitlines(),
            current.splitlines(),
            f"{file.name} (committed)",
            "schema (code)",
            lineterm="",
            n=1,
        )
        sys.stderr.write("\n".join(list(diff)[:60]) + "\n")
        raise CliError(f"{file} is out of date: run `gateway schema export`")
    typer.echo(f"{file.name} matches the code")


@new_app.command("entity", epilog="Field types: " + ", ".join(FIELD_TYPES_HELP))
def new_entity(
    name: Annotated[str, typer.Argument(help="The entity, PascalCase (Supplier).")],
    fields: Annotated[
        list[str] | None,
        typer.Argument(help="name:type, `?` after the type for an optional field."),
    ] = None,
    owner: Annotated[str, typer.Option(help="The role that may read and write it.")] = "admin",
    plural: Annotated[
        str | None, typer.Option(help="The plural, PascalCase, when adding `s` is wrong.")
    ] = None,
) -> None:
    """Write a new entity (domain entity + declaration), re-export the SDL, add its migration.

    Example: gateway new entity Supplier name:str email:email active:bool --owner staff
    """
    import importlib.util

    from gateway.scaffold.project import ROOT, known_in_project
    from gateway.scaffold.spec import ScaffoldError, parse_spec
    from gateway.scaffold.write import scaffold

    try:
        spec = parse_spec(name, fields or [], owner, known_in_project(), plural=plural)
        if importlib.util.find_spec("schema.entities") is None:
            raise ScaffoldError(
                "the entity declaration format (schema.entities) is not in this project "
                "yet: nothing written"
            )
        done = scaffold(spec, ROOT)
    except ScaffoldError as exc:
        raise CliError(str(exc)) from None
    for path in done.files:
        typer.echo(f"wrote {path}")
    typer.echo(done.migration)
    typer.echo(f"updated {Path('schema') / 'schema.graphql'}")
    typer.echo("next: gateway db upgrade")


def main() -> None:
    from domain.errors import DomainError

    try:
        app(prog_name="gateway", standalone_mode=False)
    except CliError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("aborted\n")
        sys.exit(130)
    except DomainError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(1)
    except Exception as exc:  # the CLI's contract: one line, non-zero exit
        # Usage errors come from typer's own click; they know how to say themselves.
        format_message = getattr(exc, "format_message", None)
        if type(exc).__name__ == "NoArgsIsHelpError":
            # `gateway` (or `gateway migrate`) alone: the usage, as `--help` prints it.
            # Matched by name: typer vendors click, and the class's module is private.
            sys.stderr.write(f"{exc}\n")
            sys.exit(2)
        if callable(format_message):
            sys.stderr.write(f"error: {format_message()}\n")
            sys.exit(int(getattr(exc, "exit_code", 2)))
        sys.stderr.write(f"error: {type(exc).__name__}: {exc}\n")
        sys.exit(1)
