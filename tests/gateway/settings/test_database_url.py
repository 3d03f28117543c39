"""DATABASE__URL accepts the URL forms providers print."""

from __future__ import annotations

import pytest

from gateway.settings import SettingsError, load_settings


def url(value: str) -> str:
    return load_settings(database={"url": value}).database.url


@pytest.mark.parametrize(
    ("given", "used"),
    [
        (
            "postgres://app:pw@db.example:5432/app",
            "postgresql+asyncpg://app:pw@db.example:5432/app",
        ),
        ("postgresql://app@db/app", "postgresql+asyncpg://app@db/app"),
        ("postgresql+asyncpg://app@db/app", "postgresql+asyncpg://app@db/app"),
        ("postgresql+psycopg2://app@db/app", "postgresql+asyncpg://app@db/app"),
        ("postgres://u:p@h/db?sslmode=require", "postgresql+asyncpg://u:p@h/db?ssl=require"),
        (
            "postgresql://u:p@ep-x.neon.tech/db?sslmode=require&channel_binding=require",
            "postgresql+asyncpg://u:p@ep-x.neon.tech/db?ssl=require",
        ),
        (
            "postgresql://u@h/db?prepared_statement_cache_size=0",
            "postgresql+asyncpg://u@h/db?prepared_statement_cache_size=0",
        ),
        ("sqlite:///./var/x.db", "sqlite+aiosqlite:///./var/x.db"),
        ("sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
    ],
)
def test_provider_urls_are_made_asyncpg_urls(given: str, used: str) -> None:
    assert url(given) == used


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        (
            "garbage",
            "expected postgresql://user:password@host:5432/db or sqlite:///path/to/file.db",
        ),
        (
            "postgres://u@h/db?sslmode=bogus",
            "sslmode=bogus is not one of allow, disable, prefer, require, verify-ca, verify-full",
        ),
        (
            "postgres://u@h/db?sslrootcert=/ca.pem",
            "set PGSSLROOTCERT instead of the URL parameter sslrootcert",
        ),
        (
            "postgres://u@h/db?application_name=x",
            "the URL parameter application_name is not "
            "supported (only sslmode and prepared_statement_cache_size)",
        ),
    ],
)
def test_other_urls_are_refused_naming_the_variable(given: str, problem: str) -> None:
    with pytest.raises(SettingsError) as refused:
        url(given)
    assert str(refused.value) == f"invalid setting DATABASE__URL: {problem} (got {given!r})"
