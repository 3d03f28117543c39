"""Every file the repository's text names is in the repository.

A clone is all a reader has: a link, a path or a document named in a docstring, a
comment or a manifest must resolve inside it, not in a folder beside it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Vendored, minified front-end code: its strings are not references; nor are this
# test's own examples of dangling ones.
NOT_REFERENCES = ("gateway/static/", "tests/docs/test_references.py")
# A document named by path (`docs/architecture.md`, `../shared/NOTES.md`, `DESIGN.md`).
DOCUMENT = re.compile(r"(?<![\w./-])((?:\.\.?/)*[A-Za-z0-9_-]+(?:/[A-Za-z0-9_.-]+)*\.md)\b")
# A Markdown link's target, other than a URL or an anchor in the same page.
LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s]+)\)")


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the tracked files are unknown")
    files: list[Path] = []
    for name in listed.stdout.splitlines():
        path = ROOT / name
        if name.startswith(NOT_REFERENCES) or not path.is_file():
            continue
        try:
            path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        files.append(path)
    return files


def resolves_inside(reference: str, source: Path, names: set[str]) -> bool:
    """From the repository's root or the naming file's folder, to a file in the
    repository; a bare file name may be any tracked file's."""
    for base in (ROOT, source.parent):
        target = (base / reference).resolve()
        if target.is_relative_to(ROOT) and target.exists():
            return True
    return "/" not in reference and reference in names


def dangling_references(files: list[Path]) -> list[str]:
    names = {path.name for path in files}
    found: list[str] = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        references = {m.group(1) for m in DOCUMENT.finditer(text)}
        if path.suffix == ".md":
            references |= {m.group(1).split("#", 1)[0] for m in LINK.finditer(text)}
        found.extend(
            f"{path.relative_to(ROOT, walk_up=True)}: {reference}"
            for reference in sorted(references)
            if reference and not resolves_inside(reference, path, names)
        )
    return found


def test_every_named_file_is_in_the_repository() -> None:
    assert dangling_references(tracked_text_files()) == []


def test_a_reference_outside_the_repository_is_found(tmp_path: Path) -> None:
    # Written in a scratch folder that is not the repository: a file it names beside
    # the repository, a link out of it and a missing document are all found.
    note = tmp_path / "note.md"
    note.write_text(
        "See ../shared/NOTES.md, DESIGN.md and [the map](../../architecture.md);"
        " docs/architecture.md is fine.\n",
        encoding="utf-8",
    )
    assert dangling_references([note]) == [
        f"{note.relative_to(ROOT, walk_up=True)}: ../../architecture.md",
        f"{note.relative_to(ROOT, walk_up=True)}: ../shared/NOTES.md",
        f"{note.relative_to(ROOT, walk_up=True)}: DESIGN.md",
    ]
