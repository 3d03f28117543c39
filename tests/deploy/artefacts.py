"""Reading the deployment artefacts (Dockerfile, compose, manifests) the way their tools
do, and checking them against the application: its settings, its CLI and its routes."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from gateway.cli import app as cli_app
from gateway.settings import Settings
from tests.services import require_service

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"


# -- settings ----------------------------------------------------------------------------
def setting_variables() -> set[str]:
    """Every environment variable the settings read (`PROFILE`, `SERVER__PORT`, ...)."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names.update(f"{name}__{sub}".upper() for sub in annotation.model_fields)
        else:
            names.add(name.upper())
    return names


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """The names in `env` that no setting reads (a typo is silently ignored otherwise)."""
    known = setting_variables()
    return sorted(name for name in env if name.upper() not in known)


def settings_from(env: Mapping[str, str]) -> Settings:
    """The settings as a process with exactly this environment reads them."""
    with mock.patch.dict(os.environ, dict(env), clear=True):
        return Settings(_env_file=None)


# -- the CLI -------------------------------------------------------------------------------
def is_cli_command(argv: list[str]) -> bool:
    """Whether `argv` (after the `gateway` executable) is a command with valid options.

    Asked as `gateway <argv> --help`: the parser rejects an unknown command or option
    before the help shows, and a group's help (no command chosen) says `COMMAND`."""
    result = CliRunner().invoke(cli_app, [*argv, "--help"])
    if result.exit_code != 0:
        return False
    usage = next(line for line in result.output.splitlines() if "Usage:" in line)
    return "COMMAND" not in usage


# -- the Dockerfile --------------------------------------------------------------------------
@dataclass(frozen=True)
class Instruction:
    stage: str
    keyword: str
    value: str


def dockerfile_instructions(path: Path = ROOT / "Dockerfile") -> list[Instruction]:
    """The instructions in order, continuation lines joined, each with its stage's name."""
    logical: list[str] = []
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    instructions: list[Instruction] = []
    stage = ""
    for text in logical:
        keyword, _, value = text.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = value.split()
            stage = parts[-1] if len(parts) >= 3 and parts[-2].upper() == "AS" else parts[0]
        instructions.append(Instruction(stage, keyword, value.strip()))
    return instructions


def exec_form(value: str) -> list[str]:
    """A JSON-array instruction argument (`["gateway", "serve"]`)."""
    import json

    parsed = json.loads(value)
    assert isinstance(parsed, list), value
    return [str(part) for part in parsed]


def env_pairs(value: str) -> dict[str, str]:
    """`ENV A=1 B="two words"` as a mapping."""
    pairs: dict[str, str] = {}
    for token in shlex.split(value):
        name, sep, val = token.partition("=")
        assert sep, f"ENV {value!r}: use the KEY=value form"
        pairs[name] = val
    return pairs


def copy_sources(value: str) -> list[str]:
    """The context paths a COPY reads (none for COPY --from=...)."""
    parts = shlex.split(value)
    flags = [part for part in parts if part.startswith("--")]
    if any(flag.startswith("--from=") for flag in flags):
        return []
    paths = [part for part in parts if not part.startswith("--")]
    return paths[:-1]


def dockerignore_allows(relative: str, path: Path = ROOT / ".dockerignore") -> bool:
    """Whether the build context holds `relative` (last matching pattern wins)."""
    import fnmatch

    patterns = [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    parts = Path(relative).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.removeprefix("!").rstrip("/")
        body = body.removeprefix("**/")
        for candidate in candidates:
            name = candidate.rsplit("/", 1)[-1]
            if fnmatch.fnmatch(candidate, body) or fnmatch.fnmatch(name, body):
                included = negated
                break
    return included


# -- compose ------------------------------------------------------------------------------
_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::(?P<op>[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str, environment: Mapping[str, str] | None = None) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` against `environment`."""
    environment = environment or {}

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if environment.get(name):
            return environment[name]
        if op == "-":
            return arg
        raise AssertionError(f"${{{name}}} is required: {arg}")

    return _INTERPOLATION.sub(substitute, value)


def compose_environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A compose service's environment, interpolated as `docker compose up` would."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): interpolate(str(v)) for k, v in env.items()}


# -- the Kubernetes manifests ------------------------------------------------------------
def kustomize(directory: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        # A skip locally; a failure in CI (GW_REQUIRE_SERVICES=1), which .ci/run checks first.
        require_service("kubectl (with its built-in kustomize)", available=False)
        raise AssertionError("unreachable")
    built = subprocess.run(
        [kubectl, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


@cache
def _built(overlay: str) -> tuple[dict[str, Any], ...]:
    return tuple(kustomize(K8S / "overlays" / overlay))


def built(overlay: str) -> list[dict[str, Any]]:
    return [dict(doc) for doc in _built(overlay)]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"{len(found)} {kind} named {name}"
    return found[0]


def container(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    pod = one(docs, kind, name)["spec"]["template"]["spec"]
    containers: list[dict[str, Any]] = pod["containers"]
    return containers[0]
