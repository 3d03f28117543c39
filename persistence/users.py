"""Users in SQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from domain import users
from persistence import tables
from persistence.repository import SqlRepository
from persistence.specifications import FieldMap, Kind, SqlField

_T = tables.USERS

# `roles` and `password_hash` are deliberately absent: neither can be filtered on.
USER_FIELDS: FieldMap = {
    "id": SqlField(_T.c.id),
    "email": SqlField(_T.c.email, Kind.EMAIL),
    "name": SqlField(_T.c.name, Kind.TEXT),
    "active": SqlField(_T.c.active),
    "created_at": SqlField(_T.c.created_at),
}


class SqlUserRepository(SqlRepository[users.User, tables.UserRow]):
    """`domain.ports.UserRepository` over the `users` table."""

    row_type = tables.UserRow
    kind = "user"
    fields = USER_FIELDS
    sort_fields = frozenset({"id", "name", "email", "created_at"})

    def _from_row(self, row: sa.RowMapping) -> users.User:
        return tables.user_from_row(row)

    def _values(self, entity: users.User) -> dict[str, Any]:
        return tables.user_values(entity)

    async def by_email(self, email: users.Email) -> users.User | None:
        """The user with this email (stored lower-case, so one index lookup), or None."""
        found = await self._load(sa.select(_T).where(_T.c.email == email.value))
        return found[0] if found else None
