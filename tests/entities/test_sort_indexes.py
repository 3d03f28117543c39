"""Every orderable field of a declared entity is indexed with the id after it, so a page in
that order is read from the index rather than sorted from the whole table."""

from __future__ import annotations

import sqlalchemy as sa

from tests.entities.vendors import CONTACTS, VENDORS


def _indexed(table: sa.Table) -> set[tuple[str, ...]]:
    return {tuple(column.name for column in index.columns) for index in table.indexes}


def test_orderable_fields_are_indexed_with_the_id_and_unique_ones_need_not() -> None:
    # Vendor.name is orderable but unique: its own constraint's index serves its order.
    assert {key for key in _indexed(VENDORS) if key[-1] == "id"} == {
        ("rating", "id"),
        ("tier", "id"),
        ("created_at", "id"),
    }
    assert {key for key in _indexed(CONTACTS) if key[-1] == "id"} >= {
        ("name", "id"),
        ("position", "id"),
    }


def test_the_indexes_are_named_as_migrations_expect() -> None:
    names = {index.name for index in VENDORS.indexes}
    assert {"ix_test_vendors_rating_id", "ix_test_vendors_created_at_id"} <= names
