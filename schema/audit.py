"""The audit trail as admins read it: entries, their changes, the filter."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from domain import audit as domain_audit
from schema.node import decode_id, parse_global_id, to_global_id


@strawberry.enum(description="What an audit entry records.")
class AuditAction(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    ROLES_CHANGED = "roles_changed"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105  # an action name, not a password
    REFRESH_TOKEN_REUSED = "refresh_token_reused"  # noqa: S105  # an action name

    def to_domain(self) -> domain_audit.AuditAction:
        return domain_audit.AuditAction(self.value)


@strawberry.type(description="One field an audited change touched (secrets show [redacted]).")
class AuditChange:
    field: str
    before: JSON | None
    after: JSON | None


@strawberry.type(description="Who did what to which entity, when and from where.")
class AuditEntry:
    occurred_at: datetime
    action: AuditAction
    entity_type: str
    entity_id: strawberry.ID | None = strawberry.field(
        description="The global id of the entity (of `entityType`), if the entry names one."
    )
    actor_id: strawberry.ID | None = strawberry.field(
        description="The global id of the user who acted; null when anonymous or the system."
    )
    request_id: str | None
    client_ip: str | None
    changes: list[AuditChange]

    @classmethod
    def from_domain(cls, entry: domain_audit.AuditEntry) -> AuditEntry:
        before, after = entry.before or {}, entry.after or {}
        return cls(
            occurred_at=entry.occurred_at,
            action=AuditAction(entry.action.value),
            entity_type=entry.entity_type,
            entity_id=(
                to_global_id(entry.entity_type, entry.entity_id)
                if entry.entity_id is not None
                else None
            ),
            actor_id=to_global_id("User", entry.actor_id) if entry.actor_id else None,
            request_id=entry.request_id,
            client_ip=entry.client_ip,
            changes=[
                AuditChange(field=name, before=before.get(name), after=after.get(name))
                for name in sorted(before.keys() | after.keys())
            ],
        )


@strawberry.input(description="Conditions on audit entries; all given conditions must hold.")
class AuditLogFilter:
    entity_type: str | None = None
    entity_id: strawberry.ID | None = strawberry.field(
        default=None, description="A global id: the entries about that entity."
    )
    actor_id: strawberry.ID | None = strawberry.field(
        default=None, description="A user's global id: the entries of what they did."
    )
    action: AuditAction | None = None
    since: datetime | None = strawberry.field(default=None, description="Inclusive.")
    until: datetime | None = strawberry.field(default=None, description="Exclusive.")

    def to_domain(self) -> domain_audit.AuditFilter:
        entity_type, entity_id = self.entity_type, None
        if self.entity_id is not None:
            named, entity_id = parse_global_id(self.entity_id, "filter.entityId")
            entity_type = entity_type or named
            if entity_type != named:
                entity_id = -1  # the id names another type: nothing can match
        return domain_audit.AuditFilter(
            entity_type=entity_type,
            entity_id=entity_id,
            actor_id=(
                decode_id(self.actor_id, "User", "filter.actorId")
                if self.actor_id is not None
                else None
            ),
            action=self.action.to_domain() if self.action is not None else None,
            since=self.since,
            until=self.until,
        )
