"""Every per-call bound (statement, Redis, upstream) is below the operation's timeout, or
start-up refuses with one line naming the setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("section", "name"),
    [
        ("database", "statement_timeout_seconds"),
        ("redis", "socket_timeout_seconds"),
        ("rate_limit", "storage_timeout_seconds"),
    ],
)
def test_a_bound_at_or_past_the_operation_timeout_is_refused_by_name(
    section: str, name: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(graphql={"execution_timeout_seconds": 9.5}, **{section: {name: 9.5}})
    variable = f"{section.upper()}__{name.upper()}"
    assert str(refused.value) == (
        f"invalid settings: {variable} (9.5 s) must be below "
        "GRAPHQL__EXECUTION_TIMEOUT_SECONDS (9.5 s)"
    )


@pytest.mark.parametrize("name", ["timeout_seconds", "deadline_seconds"])
def test_an_upstream_bound_at_or_past_the_operation_timeout_is_refused_by_name(
    name: str,
) -> None:
    extra = {"deadline_seconds": 9.5} if name == "timeout_seconds" else {}
    with pytest.raises(SettingsError) as refused:
        load_settings(
            graphql={"execution_timeout_seconds": 9.5},
            upstreams={"shipping": {name: 9.5, **extra}},
        )
    variable = f"UPSTREAMS__SHIPPING__{name.upper()}"
    assert str(refused.value) == (
        f"invalid settings: {variable} (9.5 s) must be below "
        "GRAPHQL__EXECUTION_TIMEOUT_SECONDS (9.5 s)"
    )


def test_an_upstream_attempt_longer_than_its_deadline_is_refused() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(upstreams={"exchange_rates": {"timeout_seconds": 2, "deadline_seconds": 1}})
    assert str(refused.value) == (
        "invalid settings: UPSTREAMS__EXCHANGE_RATES__TIMEOUT_SECONDS (2 s) must not exceed "
        "UPSTREAMS__EXCHANGE_RATES__DEADLINE_SECONDS (1 s)"
    )


def test_the_defaults_are_below_the_operation_timeout() -> None:
    settings = Settings()
    assert [
        settings.database.statement_timeout_seconds,
        settings.redis.socket_timeout_seconds,
        settings.rate_limit.storage_timeout_seconds,
        settings.upstream("exchange_rates").timeout_seconds,
        settings.upstream("exchange_rates").deadline_seconds,
        settings.graphql.execution_timeout_seconds,
    ] == [5.0, 0.25, 0.5, 1.0, 3.0, 10.0]


def test_serve_refuses_to_start_with_one_line_and_a_non_zero_exit() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve"],
        cwd=ROOT,
        env={**os.environ, "DATABASE__STATEMENT_TIMEOUT_SECONDS": "12"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stderr) == (
        1,
        "error: invalid settings: DATABASE__STATEMENT_TIMEOUT_SECONDS (12 s) must be below "
        "GRAPHQL__EXECUTION_TIMEOUT_SECONDS (10 s)\n",
    )
