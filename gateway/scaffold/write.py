"""Put a new entity's files in place all at once, then derive the SDL and the migration.

Files are written to a staging folder inside the project (same filesystem) and moved
into place only when all are written; if a later step fails (the schema does not
build, the migration does not run), every file is taken back and the SDL restored,
so a refused or failed scaffold leaves the project as it was.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.scaffold.spec import EntitySpec, ScaffoldError
from gateway.scaffold.templates import PlannedFile, entity_files

SDL = Path("schema") / "schema.graphql"
STEP_TIMEOUT_SECONDS = 300


@dataclass(frozen=True, slots=True)
class Scaffolded:
    """What a scaffold wrote: the entity's files and the migration (relative paths)."""

    files: tuple[Path, ...]
    migration: str


type Runner = Callable[[Path, Sequence[str]], str]


def run_gateway(root: Path, args: Sequence[str]) -> str:
    """Run `gateway ARGS` in a fresh process at `root` (so it imports the new files);
    its stdout, or ScaffoldError with its last error line."""
    try:
        done = subprocess.run(  # noqa: S603  # our own interpreter and command
            [sys.executable, "-m", "gateway", *args],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ScaffoldError(
            f"`gateway {' '.join(args)}` took over {STEP_TIMEOUT_SECONDS} s"
        ) from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        last = lines[-1].removeprefix("error: ") if lines else f"exit {done.returncode}"
        raise ScaffoldError(f"`gateway {' '.join(args)}` failed: {last}")
    return done.stdout


def place(root: Path, files: Sequence[PlannedFile]) -> list[Path]:
    """Write `files` under `root` all at once; raises ScaffoldError if one exists."""
    for planned in files:
        if (root / planned.path).exists():
            raise ScaffoldError(f"{planned.path} already exists")
    placed: list[Path] = []
    with tempfile.TemporaryDirectory(dir=root, prefix=".scaffold-") as staging:
        for index, planned in enumerate(files):
            (Path(staging) / str(index)).write_text(planned.text, encoding="utf-8")
        try:
            for index, planned in enumerate(files):
                target = root / planned.path
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(Path(staging) / str(index), target)
                placed.append(target)
        except BaseException:
            _take_back(placed)
            raise
    return placed


def _take_back(paths: Sequence[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def scaffold(spec: EntitySpec, root: Path, run: Runner = run_gateway) -> Scaffolded:
    """Write the entity's files, re-export the SDL and generate the migration.

    Raises ScaffoldError (nothing kept) when `root` is not a source checkout (an
    installed package has nowhere to write), a file exists or a step fails.
    """
    if not (root / "pyproject.toml").is_file():
        raise ScaffoldError(f"{root} is not a source checkout (no pyproject.toml): nothing written")
    sdl = root / SDL
    sdl_before = sdl.read_text(encoding="utf-8") if sdl.exists() else None
    placed = place(root, entity_files(spec))
    try:
        run(root, ["schema", "export"])
        migration = run(root, ["db", "revision", "-m", f"add {spec.table}"]).strip()
    except BaseException:
        _take_back(placed)
        if sdl_before is not None:
            sdl.write_text(sdl_before, encoding="utf-8")
        raise
    return Scaffolded(tuple(p.relative_to(root) for p in placed), migration)
