"""Shared test code lives in helper modules: no test module or conftest is imported.

A test module imported by another runs its module-level code twice under two names,
and pytest may collect its tests again in the importer; a conftest imported by name
registers its fixtures twice. Helpers (`world.py`, `gateways.py`, `artefacts.py`, ...)
are what other tests import.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def is_test_code(module: str) -> bool:
    """`tests.a.test_b` or `tests.a.conftest` (a module, not a helper)."""
    parts = module.split(".")
    return parts[0] == "tests" and (parts[-1].startswith("test_") or parts[-1] == "conftest")


def imports_of_test_code(source: str) -> list[str]:
    """The test modules and conftests that `source` imports (`from a import b` counts
    `a` and `a.b`: b may be a module)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.extend(name for name in names if is_test_code(name))
    return found


def test_no_test_module_or_conftest_is_imported() -> None:
    offending = {
        str(path.relative_to(TESTS)): hits
        for path in sorted(TESTS.rglob("*.py"))
        if (hits := imports_of_test_code(path.read_text(encoding="utf-8")))
    }
    assert offending == {}


def test_an_import_of_a_test_module_or_conftest_is_found() -> None:
    source = (
        "from tests.gateway.world import World\n"
        "from tests.gateway.rest.test_rest_api import problem\n"
        "from tests.gateway import conftest\n"
        "import tests.persistence.conftest\n"
        "from tests.deploy.artefacts import built\n"
    )
    assert imports_of_test_code(source) == [
        "tests.gateway.rest.test_rest_api",
        "tests.gateway.conftest",
        "tests.persistence.conftest",
    ]
