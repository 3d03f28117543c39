"""The Dockerfile, checked statically (no container runtime here) and, where a Docker
daemon answers, built for real."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.deploy.artefacts import (
    ROOT,
    Instruction,
    copy_sources,
    dockerfile_instructions,
    dockerignore_allows,
    env_pairs,
    exec_form,
    is_cli_command,
    settings_from,
    unknown_variables,
)

# Variables of Python and of the image itself, not the gateway's settings.
NOT_SETTINGS = {"PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "TMPDIR"}
OCI_LABELS = {
    "title",
    "description",
    "version",
    "revision",
    "created",
    "licenses",
    "source",
    "base.name",
}


def stage(name: str) -> list[Instruction]:
    return [i for i in dockerfile_instructions() if i.stage == name]


def final_stage() -> list[Instruction]:
    return stage(dockerfile_instructions()[-1].stage)


def keyword(instructions: list[Instruction], name: str) -> list[str]:
    return [i.value for i in instructions if i.keyword == name]


def image_environment() -> dict[str, str]:
    env: dict[str, str] = {}
    for value in keyword(final_stage(), "ENV"):
        env.update(env_pairs(value))
    return env


def test_every_copy_source_exists_and_is_in_the_build_context() -> None:
    sources = [
        s for value in keyword(dockerfile_instructions(), "COPY") for s in copy_sources(value)
    ]
    assert sources  # the parser found them
    for source in sources:
        assert (ROOT / source).exists(), source
        assert dockerignore_allows(source), f"{source} is excluded by .dockerignore"
    # Every package the wheel ships is copied (a new top-level package must be added).
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert set(packages) <= set(sources)
    assert project["project"]["readme"] in sources


def test_the_context_leaves_out_tests_caches_and_local_state() -> None:
    for path in (
        "tests/conftest.py",
        ".venv",
        ".git",
        "var/gateway.db",
        "gateway/__pycache__/x.pyc",
    ):
        assert not dockerignore_allows(path), path


def test_two_stages_with_uv_and_the_lock_file_and_no_dev_dependencies() -> None:
    builds = keyword(stage("build"), "RUN")
    assert builds
    assert all("uv sync --frozen --no-dev" in run for run in builds)
    assert any("--no-editable" in run for run in builds)
    build_env: dict[str, str] = {}
    for value in keyword(stage("build"), "ENV"):
        build_env.update(env_pairs(value))
    assert build_env["UV_COMPILE_BYTECODE"] == "1"
    froms = keyword(dockerfile_instructions(), "FROM")
    assert froms[-1] == "python:${PYTHON_VERSION}-slim-bookworm AS runtime"
    assert "ARG PYTHON_VERSION=3.12" in [
        f"ARG {v}" for v in keyword(dockerfile_instructions(), "ARG")
    ]
    # The runtime stage takes only the built environment: no uv, no compiler, no sources.
    assert keyword(final_stage(), "COPY") == ["--from=build /opt/gateway /opt/gateway"]
    assert not any("apt-get" in run or "pip " in run for run in keyword(final_stage(), "RUN"))


def test_the_image_runs_unprivileged_with_only_tmp_writable() -> None:
    assert keyword(final_stage(), "USER") == ["10001:10001"]
    assert keyword(final_stage(), "VOLUME") == ['["/tmp"]']
    assert image_environment()["TMPDIR"] == "/tmp"


def test_the_entrypoint_and_the_healthcheck_are_cli_commands() -> None:
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entrypoint = exec_form(keyword(final_stage(), "ENTRYPOINT")[0])
    command = exec_form(keyword(final_stage(), "CMD")[0])
    assert (entrypoint, command) == (["gateway"], ["serve"])
    assert scripts["gateway"] == "gateway.cli:main"
    assert is_cli_command(command)
    healthcheck = keyword(final_stage(), "HEALTHCHECK")[0]
    probe = exec_form(healthcheck.split("CMD", 1)[1].strip())
    assert probe == ["gateway", "probe", "live"]
    assert is_cli_command(probe[1:])


def test_the_environment_is_settings_and_the_ports_are_the_exposed_ones() -> None:
    env = image_environment()
    settings_env = {k: v for k, v in env.items() if k not in NOT_SETTINGS}
    assert unknown_variables(settings_env) == []
    # With the secrets a deployment adds, the image's defaults are a valid prod configuration.
    settings = settings_from(
        {
            **settings_env,
            "SECURITY__SECRET_KEY": "x" * 32,
            "DATABASE__URL": "postgresql+asyncpg://gateway@db/gateway",
            "REDIS__URL": "redis://redis:6379/0",
            "METRICS__PORT": "9000",
        }
    )
    assert settings.profile == "prod"
    exposed = {int(port) for value in keyword(final_stage(), "EXPOSE") for port in value.split()}
    assert exposed == {settings.server.port, settings.metrics.port}


def test_the_labels_are_the_oci_annotations() -> None:
    labels = " ".join(keyword(final_stage(), "LABEL"))
    found = {
        part.split("=", 1)[0].removeprefix("org.opencontainers.image.")
        for part in labels.split()
        if part.startswith("org.opencontainers.image.")
    }
    assert found == OCI_LABELS


def _uv() -> list[str] | None:
    # As the Makefile runs it: `uv`, else `python3.12 -m uv`.
    candidates = [
        [shutil.which("uv") or "uv"],
        # The interpreter itself rather than a version manager's shim, which would need
        # the repository's .python-version in the working directory.
        [os.path.realpath(sys.executable), "-m", "uv"],
        [shutil.which("python3.12") or sys.executable, "-m", "uv"],
    ]
    for candidate in candidates:
        try:
            found = subprocess.run(
                [*candidate, "--version"], cwd=ROOT, capture_output=True, check=False
            )
        except OSError:
            continue
        if found.returncode == 0:
            return candidate
    return None


def test_the_wheel_the_image_installs_carries_the_runtime_files(tmp_path: Path) -> None:
    # The image installs the project as a wheel (not editable): the files the app reads
    # at run time (migrations, static assets, REST operations, the SDL) must be in it.
    uv = _uv()
    if uv is None:
        pytest.skip("uv is not installed (make sync bootstraps it)")
    subprocess.run(
        [*uv, "build", "--wheel", "--out-dir", str(tmp_path), str(ROOT)],
        capture_output=True,
        check=True,
        timeout=120,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(
        ["git", "ls-files", "gateway", "schema", "persistence", "resolvers", "domain"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert tracked
    assert sorted(set(tracked) - names) == []


def _docker_daemon() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return "no container runtime: docker is not installed"
    info = subprocess.run([docker, "info"], capture_output=True, text=True, check=False, timeout=30)
    if info.returncode != 0:
        reason = (info.stderr.strip().splitlines() or ["docker info failed"])[-1]
        return f"no container runtime: {reason}"
    return None


def test_docker_build_where_a_daemon_runs() -> None:
    reason = _docker_daemon()
    if reason is not None:
        pytest.skip(reason)
    tag = "python-api-base:test"
    subprocess.run(["docker", "build", "-t", tag, str(ROOT)], check=True, timeout=1800)
    ran = subprocess.run(
        ["docker", "run", "--rm", "--read-only", "--tmpfs", "/tmp", tag, "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    assert "serve" in ran.stdout


def test_the_images_environment_built_natively_migrates_and_knows_its_schema(
    tmp_path: Path,
) -> None:
    # The build stage's `uv sync` commands, run here on a copy of the build context, into
    # an environment of their own; then the gateway run from it, away from the sources.
    uv = _uv()
    if uv is None:
        pytest.skip("uv is not installed (make sync bootstraps it)")
    context, environment = tmp_path / "context", tmp_path / "env"
    context.mkdir()
    for source in [s for v in keyword(stage("build"), "COPY") for s in copy_sources(v)]:
        path = ROOT / source
        if path.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(path, context / source, ignore=ignore)
        else:
            shutil.copy2(path, context / source)
    syncs = [
        m[0] for run in keyword(stage("build"), "RUN") for m in re.finditer(r"uv sync[^&]*", run)
    ]
    assert len(syncs) == 2
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(environment),
        "UV_PYTHON": os.path.realpath(sys.executable),
        "UV_PYTHON_DOWNLOADS": "never",
        # Compiling every module takes ~20 s here; the Dockerfile's ENV is checked above.
        "UV_COMPILE_BYTECODE": "0",
    }
    env.pop("VIRTUAL_ENV", None)
    for sync in syncs:
        done = subprocess.run(
            [*uv, *sync.split()[1:]],
            cwd=context,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    outside = tmp_path / "run"
    outside.mkdir()
    app_env = {
        "PATH": f"{environment / 'bin'}:/usr/bin:/bin",
        "DATABASE__URL": f"sqlite+aiosqlite:///{outside}/gateway.db",
    }

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv),
            cwd=outside,
            env=app_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    # Migrations and the SDL come from the installed wheel, not from a source tree.
    assert run("gateway", "db", "upgrade").returncode == 0
    assert run("gateway", "schema", "check").stdout == "schema.graphql matches the code\n"
    listing = "import importlib.metadata as m; print(*(d.name.lower() for d in m.distributions()))"
    installed = run("python", "-c", listing)
    names = set(installed.stdout.split())
    import tomllib

    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]["dev"]
    dev_names = {re.split(r"[<>=~\[ ]", requirement, maxsplit=1)[0].lower() for requirement in dev}
    assert sorted(dev_names & names) == []
    assert {"python-api-base", "uvicorn", "asyncpg"} <= names
