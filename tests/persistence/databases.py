"""The test databases' names and tables, for the persistence fixtures and any test that
empties a database between cases."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from gateway.container import application_tables

# Every mapped table, children first (the emptying list; derived so a new entity needs no edit).
TABLES = tuple(t.name for t in reversed(application_tables().sorted_tables))

# A Postgres database emptied between tests, as `TRUNCATE <TABLES> RESTART IDENTITY`
# leaves it: every row deleted (children first) and every sequence restarted, in one
# round trip. TRUNCATE gives each table a new file: ~50 ms for a test's few rows, where
# deleting them takes ~9 ms, before each of ~250 Postgres tests.
_DELETES = " ".join(f'DELETE FROM "{table}";' for table in TABLES)  # noqa: S608  # our tables
EMPTY_POSTGRES = sa.text(
    f"DO $$ DECLARE s record; BEGIN {_DELETES} "  # noqa: S608  # our tables
    "FOR s IN SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema() "
    "LOOP EXECUTE format('ALTER SEQUENCE %I RESTART', s.sequencename); END LOOP; END $$"
)


def sqlite_url_for(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"
