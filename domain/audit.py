"""The audit trail: who changed what, when and from where, and every security event.

Changes to stored entities are recorded by the unit of work itself (every repository's
`add`, `save` and `delete`), so an entity declared later is covered with no code of its
own; services add the security events (`UnitOfWork.audit`). A record is written in the
transaction of its change: a rolled-back change leaves none, a committed one always has
one. Who acted and from where is the request's `AuditContext`, which the gateway binds
to the services it hands a request (`domain.services.audit.AuditedService.for_request`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class AuditAction(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    ROLES_CHANGED = "roles_changed"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105  # an action name, not a password
    REFRESH_TOKEN_REUSED = "refresh_token_reused"  # noqa: S105  # an action name


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Who acts and from where, for one request; `actor_id` None is anonymous.

    Work outside a request (scheduled jobs, the seed) runs under `SYSTEM`: no actor,
    no request id, no client.
    """

    actor_id: int | None = None
    request_id: str | None = None
    client_ip: str | None = None


SYSTEM = AuditContext()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One change or security event, before it is stored.

    `before` and `after` hold only the fields that changed (a creation has no
    `before`, a deletion no `after`); values are redacted when stored. `actor_id`
    overrides the context's actor where the request proves who acts only as it runs
    (a login: the caller was anonymous until then).
    """

    action: AuditAction
    entity_type: str
    entity_id: int | None
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    actor_id: int | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A stored audit record (redacted), as admins read it."""

    id: int
    occurred_at: datetime
    actor_id: int | None
    request_id: str | None
    client_ip: str | None
    action: AuditAction
    entity_type: str
    entity_id: int | None
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditFilter:
    """Conditions on audit entries; every given one must hold (`until` is exclusive)."""

    entity_type: str | None = None
    entity_id: int | None = None
    actor_id: int | None = None
    action: AuditAction | None = None
    since: datetime | None = None
    until: datetime | None = None


def changed_fields(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields of `after` whose value differs from `before`, as (before, after)."""
    keys = [key for key, value in after.items() if key not in before or before[key] != value]
    return {key: before.get(key) for key in keys}, {key: after[key] for key in keys}
