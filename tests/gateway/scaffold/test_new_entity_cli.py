"""`gateway new entity` refusals as a developer sees them: one line, exit 1, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import PROJECT_ROOT as ROOT
from tests.helpers import run_gateway as gateway

WATCHED = ("domain", "schema", "persistence/migrations/versions")


def _snapshot() -> dict[str, float]:
    return {
        str(p.relative_to(ROOT)): p.stat().st_mtime
        for folder in WATCHED
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["User", "name:str"], "entity 'User' already exists"),
        (["Warehouse", "class:str"], "field 'class' is a Python keyword"),
        (["Warehouse", "id:int"], "field 'id' is reserved: every entity has it"),
        (
            ["Warehouse", "name:strng"],
            "field 'name': unknown type 'strng' (types: str, text, int, bool, decimal, money, "
            "email, datetime, ref:<Entity>)",
        ),
    ],
)
def test_a_refusal_is_one_line_and_writes_nothing(args: list[str], message: str) -> None:
    before = _snapshot()
    result = gateway("new", "entity", *args, "--owner", "staff")
    assert (result.returncode, result.stdout, result.stderr) == (1, "", f"error: {message}\n")
    assert _snapshot() == before
    assert not list(Path(ROOT).glob(".scaffold-*"))
