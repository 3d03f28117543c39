"""Settings errors name their variable in one line; misspelt variables are warned about."""

from __future__ import annotations

import pytest

from gateway.settings import load_settings, unknown_variables
from tests.gateway.settings.refusals import refusal


def test_a_cors_origin_that_is_no_origin_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    assert refusal(monkeypatch, SECURITY__CORS_ORIGINS="not-json") == (
        "invalid setting SECURITY__CORS_ORIGINS: 'not-json' is not an origin like "
        "https://app.example.com (no path, no slash) (got 'not-json')"
    )


def test_a_broken_json_list_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    assert refusal(monkeypatch, REALTIME__ALLOWED_ORIGINS='["https://a.example"') == (
        "invalid setting REALTIME__ALLOWED_ORIGINS: expected a JSON list like "
        '["https://app.example.com"] or comma-separated values (got \'["https://a.example"\')'
    )


def test_lists_take_json_or_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECURITY__CORS_ORIGINS", "https://a.example, http://b.example:8080")
    monkeypatch.setenv("SECURITY__TRUSTED_PROXIES", '["10.0.0.0/8"]')
    security = load_settings().security
    assert (security.cors_origins, security.trusted_proxies) == (
        ["https://a.example", "http://b.example:8080"],
        ["10.0.0.0/8"],
    )


def test_every_problem_is_listed_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    assert refusal(monkeypatch, SERVER__PORT="0", DATABASE__POOL_SIZE="many") == (
        "invalid settings DATABASE__POOL_SIZE: Input should be a valid integer, unable to "
        "parse string as an integer (got 'many'); SERVER__PORT: Input should be greater "
        "than or equal to 1 (got '0')"
    )


def test_a_short_prod_key_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    environ = {
        "PROFILE": "prod",
        "SECURITY__SECRET_KEY": "too-short-secret",
        "DATABASE__URL": "postgres://app@db/app",
        "REDIS__URL": "redis://cache:6379/0",
    }
    assert refusal(monkeypatch, **environ) == (
        "invalid settings: prod requires SECURITY__SECRET_KEY of at least 32 bytes"
    )


def test_a_database_password_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert refusal(monkeypatch, DATABASE__URL="mysql://app:hunter2@db/app") == (
        "invalid setting DATABASE__URL: expected postgresql://user:password@host:5432/db or "
        "sqlite:///path/to/file.db (got 'mysql://app:***@db/app')"
    )


def test_a_section_given_as_broken_json_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    assert refusal(monkeypatch, SECURITY="{oops") == "invalid settings: SECURITY is not valid JSON"


@pytest.mark.parametrize(
    ("name", "warning"),
    [
        ("SERVER_PORT", "SERVER_PORT is not a setting and is ignored (did you mean SERVER__PORT?)"),
        (
            "DATABASE__POOLSIZE",
            "DATABASE__POOLSIZE is not a setting and is ignored "
            "(did you mean DATABASE__POOL_SIZE?)",
        ),
        (
            "SECURTY__SECRET_KEY",
            "SECURTY__SECRET_KEY is not a setting and is ignored "
            "(did you mean SECURITY__SECRET_KEY?)",
        ),
        ("GRAPHQL__FROBNICATE", "GRAPHQL__FROBNICATE is not a setting and is ignored"),
    ],
)
def test_a_variable_that_looks_like_ours_is_warned_about(name: str, warning: str) -> None:
    assert unknown_variables({name: "1", "PATH": "/bin", "SERVER__PORT": "1"}) == [warning]


def test_other_programs_variables_are_left_alone() -> None:
    environ = {"PATH": "/bin", "CELERY__BROKER": "x", "PYTHONPATH": ".", "PGPASSWORD": "x"}
    assert unknown_variables(environ) == []
