"""The npm client tools (codegen, Apollo's manifest generator) the client tests run.

Installed from codegen/package.json under ~/.cache (outside the project, as the bench
installs PostGraphile) when Node.js is present; the tests that need them skip, saying
why, where it is not.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "codegen" / "package.json"
HOME = Path.home() / ".cache" / "python-api-base" / "codegen"
DOCUMENTS = Path(__file__).parent / "documents"
SCHEMA = ROOT / "schema" / "schema.graphql"


def _installed(home: Path, wanted: dict[str, str]) -> bool:
    for name, version in wanted.items():
        manifest = home / "node_modules" / name / "package.json"
        if not manifest.exists() or json.loads(manifest.read_text())["version"] != version:
            return False
    return True


def node_tools() -> Path:
    """The folder holding the tools' node_modules; skips the test without Node.js or npm."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed: the npm client tools cannot run")
    wanted: dict[str, str] = json.loads(PACKAGE.read_text())["devDependencies"]
    if _installed(HOME, wanted):
        return HOME
    HOME.mkdir(parents=True, exist_ok=True)
    # The suite's parallel workers (and other checkouts) share HOME: one installs while
    # the others wait on the lock, then find the tools there instead of running a second
    # npm install into the same node_modules.
    with (HOME / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed(HOME, wanted):
            return HOME
        shutil.copyfile(PACKAGE, HOME / "package.json")
        installed = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=HOME,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if installed.returncode != 0 or not _installed(HOME, wanted):
            pytest.skip(f"npm install of codegen/package.json failed: {installed.stderr[-300:]}")
    return HOME


def project(tmp_path: Path) -> Path:
    """A client project in `tmp_path`: the test documents under src/, the tools linked."""
    shutil.copytree(DOCUMENTS, tmp_path / "src")
    (tmp_path / "node_modules").symlink_to(node_tools() / "node_modules")
    return tmp_path


def run(tool: str, *args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a tool of node_modules/.bin; fails the test with its output if it fails."""
    result = subprocess.run(
        [str(cwd / "node_modules" / ".bin" / tool), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{tool} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout
