"""The test databases' names and tables, for the persistence fixtures and any test that
empties a database between cases."""

from __future__ import annotations

from pathlib import Path

from gateway.container import application_tables

# Every mapped table, children first (the TRUNCATE list; derived so a new entity needs no edit).
TABLES = tuple(t.name for t in reversed(application_tables().sorted_tables))


def sqlite_url_for(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"
