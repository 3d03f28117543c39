"""Placing a new entity's files: all or nothing, and taken back when a later step fails."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from gateway.scaffold.spec import ScaffoldError, parse_spec
from gateway.scaffold.templates import PlannedFile, entity_files
from gateway.scaffold.write import SDL, Scaffolded, place, scaffold
from tests.gateway.scaffold.known import KNOWN

SPEC = parse_spec("Supplier", ["name:str", "email:email", "active:bool"], "staff", KNOWN)
FILES = (PlannedFile(Path("domain/a.py"), "A = 1\n"), PlannedFile(Path("schema/new/b.py"), "B\n"))


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_file_is_placed_and_no_staging_is_left(tmp_path: Path) -> None:
    placed = place(tmp_path, FILES)
    assert placed == [tmp_path / "domain/a.py", tmp_path / "schema/new/b.py"]
    assert _tree(tmp_path) == {"domain/a.py": "A = 1\n", "schema/new/b.py": "B\n"}


def test_an_existing_file_refuses_before_anything_is_written(tmp_path: Path) -> None:
    (tmp_path / "schema/new").mkdir(parents=True)
    (tmp_path / "schema/new/b.py").write_text("mine\n")
    with pytest.raises(ScaffoldError) as refused:
        place(tmp_path, FILES)
    assert str(refused.value) == "schema/new/b.py already exists"
    assert _tree(tmp_path) == {"schema/new/b.py": "mine\n"}


class Steps:
    """Stands for the `gateway` subprocesses: records them, fails the one named."""

    def __init__(self, fail: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail

    def __call__(self, root: Path, args: Sequence[str]) -> str:
        self.calls.append(list(args))
        if args[0] == "schema":
            (root / SDL).write_text("type Supplier\n")
        if args[0] == self.fail:
            raise ScaffoldError(f"`gateway {' '.join(args)}` failed: boom")
        return "wrote persistence/migrations/versions/0002_add_suppliers.py (0001 -> 0002)\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / SDL).parent.mkdir(parents=True)
    (tmp_path / SDL).write_text("type Query\n")
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    return tmp_path


def test_a_scaffold_writes_the_files_then_exports_the_sdl_then_adds_the_migration(
    project: Path,
) -> None:
    steps = Steps()
    done = scaffold(SPEC, project, steps)
    assert done == Scaffolded(
        (Path("domain/suppliers.py"), Path("schema/declarations/suppliers.py")),
        "wrote persistence/migrations/versions/0002_add_suppliers.py (0001 -> 0002)",
    )
    assert steps.calls == [["schema", "export"], ["db", "revision", "-m", "add suppliers"]]
    assert _tree(project) == {
        "domain/suppliers.py": entity_files(SPEC)[0].text,
        "schema/declarations/suppliers.py": entity_files(SPEC)[1].text,
        "schema/schema.graphql": "type Supplier\n",
        "pyproject.toml": "[project]\n",
    }


@pytest.mark.parametrize("failing", ["schema", "db"])
def test_a_failing_step_takes_every_file_back_and_restores_the_sdl(
    project: Path, failing: str
) -> None:
    before = _tree(project)
    with pytest.raises(ScaffoldError):
        scaffold(SPEC, project, Steps(fail=failing))
    assert _tree(project) == before


def test_an_installed_package_is_not_written_into(tmp_path: Path) -> None:
    steps = Steps()
    with pytest.raises(ScaffoldError) as refused:
        scaffold(SPEC, tmp_path, steps)
    assert str(refused.value) == (
        f"{tmp_path} is not a source checkout (no pyproject.toml): nothing written"
    )
    assert (steps.calls, _tree(tmp_path)) == ([], {})
