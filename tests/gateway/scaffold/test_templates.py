"""The scaffold's files are already as the project's formatter and linter want them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gateway.scaffold.spec import FIELD_KINDS, parse_spec
from gateway.scaffold.templates import entity_files
from tests.gateway.scaffold.known import KNOWN
from tests.helpers import PROJECT_ROOT

EVERY_TYPE = [f"f_{name}:{'ref:User' if name == 'ref' else name}" for name in FIELD_KINDS]
OPTIONAL = [f"maybe_{field}?" for field in EVERY_TYPE]
LONG = "a_rather_long_name_for_a_column_here"  # 36 characters; the limit is 40


def _ruff(*args: str, text: str, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--stdin-filename", path, "-"],
        input=text,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("Vendor", [*EVERY_TYPE, *OPTIONAL, "parent:ref:Vendor", f"{'m' * 40}:ref:User"]),
        ("Category", ["name:str"]),
        (
            "WarehouseShelfAssignmentHistoryRecord",  # 37 characters
            [f"{LONG}:str?", f"{LONG}_2:text", f"{LONG}s:money", "boss:ref:User"],
        ),
    ],
)
def test_the_files_pass_the_formatter_and_the_linter(name: str, fields: list[str]) -> None:
    for planned in entity_files(parse_spec(name, fields, "staff", KNOWN)):
        path = str(planned.path)
        formatted = _ruff("format", "--diff", text=planned.text, path=path)
        linted = _ruff("check", "--no-fix", text=planned.text, path=path)
        assert (formatted.returncode, formatted.stdout) == (0, ""), path
        assert (linted.returncode, linted.stdout) == (0, "All checks passed!\n"), path
