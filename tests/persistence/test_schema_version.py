"""The revisions read from the scripts as text agree with Alembic's own reading."""

from __future__ import annotations

from persistence import migrate
from persistence.schema_version import script_revisions


def test_the_scripts_head_is_alembics_head() -> None:
    known, head = script_revisions()
    assert head == migrate.head()
    assert known == {revision.id for revision in migrate.history()}
