"""`gateway new entity` end to end, in a copy of the project: the new entity's files, its
SDL and its migration are written, and the copy's suites for that entity pass.

Two entities are scaffolded: the guide's `Supplier`, with the command exactly as
docs/guides/add-an-entity.md gives it, and `Partner`, with a field of every type.

The copy holds the project's files as git lists them (tracked, and new files not
ignored); commands run there with this interpreter, whose `-m`/rootdir path puts the
copy's packages first.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from persistence import migrate
from tests.helpers import PROJECT_ROOT, run_gateway

GUIDE = Path("docs/guides/add-an-entity.md")
GUIDE_COMMAND = "gateway new entity Supplier name:str email:email active:bool --owner staff"
ENTITY = "Partner"
FIELDS = (
    "name:str",
    "email:email?",
    "active:bool",
    "notes:text?",
    "rating:int",
    "rate:decimal",
    "credit:money",
    "since:datetime?",
    "manager:ref:User?",
)
SUITE_SECONDS = 900
MYPY_CACHE = ".mypy_cache"


def _copy_project(target: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = PROJECT_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    # mypy on the written files analyses everything they import: most of the project,
    # from a cold cache. The project's own cache (left by `make typecheck`), where there
    # is one, spares that: mypy reuses an entry only for a file unchanged since (same
    # size and time, copied with the file's, or else the same hash), so the copy's new
    # and changed files are still checked from scratch.
    cache = PROJECT_ROOT / MYPY_CACHE
    if cache.is_dir():
        shutil.copytree(cache, target / MYPY_CACHE)
    return target


def _pytest(copy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=SUITE_SECONDS,
        check=False,
    )


def _tool(copy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=SUITE_SECONDS,
        check=False,
    )


def _tail(done: subprocess.CompletedProcess[str]) -> str:
    return "\n".join((done.stdout + done.stderr).splitlines()[-40:])


def _scaffold(copy: Path, args: list[str], plural: str, before: str) -> list[str]:
    """Run `gateway new entity ARGS` in `copy`; the files it wrote (checked line by line)."""
    new = f"{int(before) + 1:04d}"
    scaffolded = run_gateway("new", "entity", *args, cwd=copy)
    assert (scaffolded.returncode, scaffolded.stderr) == (0, "")
    assert scaffolded.stdout.splitlines() == [
        f"wrote domain/{plural}.py",
        f"wrote schema/declarations/{plural}.py",
        f"wrote persistence/migrations/versions/{new}_add_{plural}.py ({before} -> {new})",
        "updated schema/schema.graphql",
        "next: gateway db upgrade",
    ]
    return [f"domain/{plural}.py", f"schema/declarations/{plural}.py"]


def test_the_guide_gives_the_scaffold_command_this_test_runs() -> None:
    guide = (PROJECT_ROOT / GUIDE).read_text(encoding="utf-8")
    assert GUIDE_COMMAND in guide


@pytest.mark.timeout(2 * SUITE_SECONDS)
def test_a_scaffolded_entity_passes_its_suites_in_a_copy_of_the_project(tmp_path: Path) -> None:
    copy = _copy_project(tmp_path / "project")
    head = migrate.head()
    assert head is not None

    guide_args = GUIDE_COMMAND.split()[3:]
    written = _scaffold(copy, guide_args, "suppliers", head)
    written += _scaffold(
        copy, [ENTITY, *FIELDS, "--owner", "staff"], "partners", f"{int(head) + 1:04d}"
    )

    lint = _tool(copy, "ruff", "check", *written)
    formatted = _tool(copy, "ruff", "format", "--check", *written)
    typed = _tool(copy, "mypy", *written)
    assert (lint.returncode, lint.stdout) == (0, "All checks passed!\n")
    assert (formatted.returncode, formatted.stdout) == (0, "4 files already formatted\n")
    assert (typed.returncode, typed.stdout) == (0, "Success: no issues found in 4 source files\n")
    generic = _pytest(copy, "tests/entities", "-k", f"Supplier or {ENTITY}")
    assert generic.returncode == 0, _tail(generic)
    agreed = _pytest(
        copy,
        "tests/persistence/test_migrations.py",
        "tests/gateway/test_cli.py::test_the_committed_sdl_matches_the_code",
    )
    assert agreed.returncode == 0, _tail(agreed)
