"""The gateway package by concern: at its top only the entry points (composition root,
app factory, CLI with what its commands run, server, worker), every concern a package
whose docstring says what it owns (docs/architecture.md, "The gateway package by
concern")."""

from __future__ import annotations

import ast
from pathlib import Path

import gateway

GATEWAY = Path(gateway.__file__).resolve().parent
TOP_LEVEL_MODULES = {
    "__init__",
    "__main__",
    "app",  # the app factory
    "asgi",  # its ASGI entry point
    "cli",
    "container",  # the composition root
    "demo_seed",  # what `gateway seed` runs
    "server",  # `gateway serve`
    "worker",  # `gateway worker`
}
CONCERNS = {
    "auth",
    "background",
    "graphql",
    "http",
    "limits",
    "observability",
    "realtime",
    "rest",
    "scaffold",
    "settings",
}


def test_only_the_entry_points_are_modules_at_the_top() -> None:
    assert {path.stem for path in GATEWAY.glob("*.py")} == TOP_LEVEL_MODULES


def test_every_concern_is_a_package_that_says_what_it_owns() -> None:
    packages = {path.parent.name: path for path in GATEWAY.glob("*/__init__.py")}
    assert set(packages) == CONCERNS
    undocumented = [
        name
        for name, path in packages.items()
        if len(ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "") < 40
    ]
    assert undocumented == []
