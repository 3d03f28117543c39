"""The `gateway` command as an operator uses it: exit codes and one-line errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from persistence import migrate
from schema import export_sdl
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]


def gateway(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_committed_sdl_matches_the_code() -> None:
    result = gateway("schema", "check")
    assert (result.returncode, result.stdout) == (0, "schema.graphql matches the code\n")


def test_a_stale_sdl_fails_the_check_with_one_error_line(tmp_path: Path) -> None:
    stale = tmp_path / "schema.graphql"
    stale.write_text(export_sdl().replace("type Query {", "type Query {\n  gone: Int"))
    result = gateway("schema", "check", "--file", str(stale))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"error: {stale} is out of date: run `gateway schema export`"
    )
    assert "-  gone: Int" in result.stderr


def test_export_writes_the_sdl(tmp_path: Path) -> None:
    target = tmp_path / "out.graphql"
    result = gateway("schema", "export", "-o", str(target))
    assert result.returncode == 0
    assert target.read_text() == export_sdl()


def test_a_bad_setting_is_one_line_naming_the_variable() -> None:
    result = gateway("migrate", "current", env={"DATABASE__POOL_SIZE": "many"})
    assert result.returncode == 1
    assert result.stderr == (
        "error: invalid setting DATABASE__POOL_SIZE: Input should be a valid integer, "
        "unable to parse string as an integer (got 'many')\n"
    )


def test_prod_lists_every_unmet_requirement_at_once() -> None:
    result = gateway(
        "migrate", "current", env={"PROFILE": "prod", "SECURITY__ALLOW_DEBUG_IDENTITY": "true"}
    )
    assert (result.returncode, result.stderr) == (
        1,
        "error: invalid settings: prod requires SECURITY__SECRET_KEY of at least 32 bytes, "
        "DATABASE__URL of PostgreSQL, REDIS__URL, SECURITY__ALLOW_DEBUG_IDENTITY=false\n",
    )


def test_a_port_out_of_range_is_refused_in_one_line_naming_the_flag() -> None:
    result = gateway("serve", "--port", "99999")
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "",
        "error: invalid setting --port (SERVER__PORT): "
        "Input should be less than or equal to 65535 (got 99999)\n",
    )


def test_a_garbage_database_url_is_one_line_naming_the_variable() -> None:
    result = gateway("migrate", "current", env={"DATABASE__URL": "garbage"})
    assert (result.returncode, result.stderr) == (
        1,
        "error: invalid setting DATABASE__URL: expected "
        "postgresql://user:password@host:5432/db or sqlite:///path/to/file.db (got 'garbage')\n",
    )


def test_a_misspelt_variable_is_warned_about(tmp_path: Path) -> None:
    env = {"DATABASE__URL": f"sqlite:///{tmp_path / 'w.db'}", "SERVER_PORT": "9000"}
    result = gateway("migrate", "current", env=env)
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "base\n",
        "warning: SERVER_PORT is not a setting and is ignored (did you mean SERVER__PORT?)\n",
    )


def test_gateway_alone_prints_its_usage() -> None:
    result = gateway()
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Usage: gateway [OPTIONS] COMMAND [ARGS]...\n")
    assert "  serve    Run the gateway" in result.stderr


def test_help_shows_flags_without_a_type() -> None:
    result = gateway("--help")
    assert (result.returncode, result.stderr) == (0, "")
    assert "  --help  Show this message and exit.\n" in result.stdout


def test_migrate_then_seed_once(tmp_path: Path) -> None:
    env = {
        "DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "SECURITY__ADMIN_PASSWORD": "Admin-Password-2026",
        "SECURITY__ARGON2_TIME_COST": "1",
        "SECURITY__ARGON2_MEMORY_KIB": "1024",
    }
    assert gateway("migrate", "upgrade", env=env).stdout == f"database at {migrate.head()}\n"
    first = gateway("seed", "--users", "5", "--items", "3", "--orders", "4", env=env)
    assert first.returncode == 0, first.stderr
    assert "admin:      admin@example.com / (from SECURITY__ADMIN_PASSWORD)" in first.stdout
    again = gateway("seed", env=env)
    assert (again.returncode, again.stderr) == (
        1,
        "error: the demo data is already there (seed 42)\n",
    )
    for flag in ("--once", "--if-empty"):
        skipped = gateway("seed", flag, env=env)
        assert (skipped.returncode, skipped.stdout.strip().splitlines()[-1]) == (
            0,
            "the demo data is already there (seed 42): nothing seeded",
        )


def test_seeding_an_unmigrated_database_says_what_to_run(tmp_path: Path) -> None:
    env = {"DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"}
    result = gateway("seed", "--once", env=env)
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "",
        f"error: the database is at no revision but the code expects {migrate.head()}: "
        "run `gateway db upgrade`\n",
    )


def test_an_unknown_command_is_a_usage_error() -> None:
    result = gateway("frobnicate")
    assert (result.returncode, result.stderr) == (2, "error: No such command 'frobnicate'.\n")


def test_db_commands_move_the_database_and_say_where_it_is(tmp_path: Path) -> None:
    env = {"DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'db.db'}"}
    head = migrate.head()
    runs = [
        gateway("db", "current", env=env),
        gateway("db", "upgrade", env=env),
        gateway("db", "current", env=env),
        gateway("db", "downgrade", "base", env=env),
    ]
    assert [(r.returncode, r.stdout, r.stderr) for r in runs] == [
        (0, "base\n", ""),
        (0, f"database at {head}\n", ""),
        (0, f"{head}\n", ""),
        (0, "database at base\n", ""),
    ]


def test_db_history_lists_the_revisions_newest_first() -> None:
    result = gateway("db", "history")
    expected = [
        f"{r.down or 'base'} -> {r.id}{' (head)' if i == 0 else ''}, {r.message}"
        for i, r in enumerate(migrate.history())
    ]
    assert (result.returncode, result.stdout.splitlines()) == (0, expected)


def test_db_revision_with_models_matching_the_migrations_writes_nothing() -> None:
    before = sorted((migrate.MIGRATIONS / "versions").glob("*.py"))
    result = gateway("db", "revision", "-m", "nothing")
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "",
        f"error: the models match the migrations at {migrate.head()}: no revision written "
        "(--empty writes one for hand-written operations)\n",
    )
    assert sorted((migrate.MIGRATIONS / "versions").glob("*.py")) == before


def test_an_unknown_revision_is_one_line() -> None:
    result = gateway("db", "upgrade", "zzz", env={"DATABASE__URL": "sqlite+aiosqlite://"})
    assert (result.returncode, result.stderr) == (
        1,
        "error: Can't locate revision identified by 'zzz'\n",
    )


def test_make_runs_second_start_imports_neither_alembic_nor_the_models(tmp_path: Path) -> None:
    # `gateway db upgrade` at head and `gateway seed --once` after the seed answer from
    # one query each, without importing Alembic, the models or the seed (start-up time).
    env = {
        "DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'quick.db'}",
        "SECURITY__ARGON2_TIME_COST": "1",
        "SECURITY__ARGON2_MEMORY_KIB": "1024",
    }
    assert gateway("db", "upgrade", env=env).returncode == 0
    assert gateway("seed", "--once", "--users", "3", "--items", "2", env=env).returncode == 0
    probe = (
        "import sys, runpy; sys.argv = ['gateway', *sys.argv[1:]]\n"
        "try: runpy.run_module('gateway', run_name='__main__')\n"
        "except SystemExit: pass\n"
        "heavy = sorted(m for m in ('alembic', 'sqlmodel', 'persistence.seed', 'strawberry')"
        " if m in sys.modules)\n"
        "print('heavy:', heavy)\n"
    )
    for args in (["db", "upgrade"], ["seed", "--once"]):
        result = subprocess.run(
            [sys.executable, "-c", probe, *args],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.stdout.splitlines()[-1] == "heavy: []", result.stdout + result.stderr


def test_the_worker_without_redis_says_where_handlers_run(tmp_path: Path) -> None:
    result = gateway(
        "worker",
        env={"DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}", "REDIS__URL": ""},
    )
    assert (result.returncode, result.stderr) == (
        1,
        "error: REDIS__URL is not set: "
        "on the embedded default, handlers run inside gateway serve\n",
    )


def test_probe_worker_passes_on_a_fresh_heartbeat_and_fails_on_a_stale_or_missing_one(
    tmp_path: Path,
) -> None:
    heartbeat = tmp_path / "worker.alive"
    env = {"EVENTS__WORKER_HEARTBEAT_FILE": str(heartbeat)}
    missing = gateway("probe", "worker", env=env)
    heartbeat.touch()
    fresh = gateway("probe", "worker", env=env)
    old = heartbeat.stat().st_mtime - 31
    os.utime(heartbeat, (old, old))
    stale = gateway("probe", "worker", env=env)
    unset = gateway("probe", "worker", env={"EVENTS__WORKER_HEARTBEAT_FILE": ""})
    # Ages vary with how long the command took to start: compared as N.
    answers = [
        (r.returncode, re.sub(r"\d+ s (ago|old)", r"N s \1", (r.stdout or r.stderr).strip()))
        for r in (fresh, missing, stale, unset)
    ]
    assert [(code, text.splitlines()[-1]) for code, text in answers] == [
        (0, "worker alive (heartbeat N s ago)"),
        (1, f"error: no worker heartbeat at {heartbeat}: No such file or directory"),
        (1, f"error: the worker heartbeat {heartbeat} is N s old (more than 30 s)"),
        (1, "error: EVENTS__WORKER_HEARTBEAT_FILE is not set: the worker keeps no heartbeat"),
    ]


def _demo_until_it_answers(env: dict[str, str], port: int) -> tuple[int, dict[str, object], str]:
    """Run `gateway demo` until its first GraphQL answer; its pid, the answer, its output."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "demo", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    query = {"query": "{ items(first: 1) { totalCount } }"}
    answer: dict[str, object] | None = None
    try:
        for _ in range(600):  # a bound for a broken command, not a speed requirement
            if process.poll() is not None:
                break
            try:
                response = httpx.post(f"http://127.0.0.1:{port}/graphql", json=query, timeout=5)
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            answer = response.json()
            break
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=60)
    assert answer is not None, output
    return process.pid, answer, output


def test_demo_migrates_seeds_once_and_serves_in_one_process(tmp_path: Path) -> None:
    # `make run` is this one command: the three steps share one interpreter's imports.
    env = {
        "DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        "SECURITY__DEV_KEY_FILE": str(tmp_path / "key"),
        "SECURITY__ARGON2_TIME_COST": "1",
        "SECURITY__ARGON2_MEMORY_KIB": "1024",
    }
    first_pid, first, first_output = _demo_until_it_answers(env, free_port())
    again_pid, again, again_output = _demo_until_it_answers(env, free_port())

    items = {"items": {"totalCount": 38}}
    assert (first["data"], again["data"]) == (items, items)
    assert re.findall(r"database at \w+|seeded \d+ users|already there", first_output) == [
        f"database at {migrate.head()}",
        "seeded 50 users",
    ]
    assert re.findall(r"database at \w+|seeded \d+ users|already there", again_output) == [
        f"database at {migrate.head()}",
        "already there",
    ]
    # Served by the process that migrated and seeded, not by one it started.
    for pid, output in ((first_pid, first_output), (again_pid, again_output)):
        assert f"Started server process [{pid}]" in output
