"""The one builder of RFC 9457 problem details, for REST answers and edge refusals alike.

Every problem+json the gateway sends (a REST route's error, a 429 from the rate
limiter, a 503 from load shedding) has the members the OpenAPI `Problem` schema
requires: `type`, `title`, `status`, `detail`, `instance`, `code` and `requestId`,
with type, title, status and code from the one error table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from schema.errors import ErrorRule

PROBLEM_JSON = "application/problem+json"


def problem_document(
    rule: ErrorRule,
    detail: str,
    *,
    instance: str,
    request_id: str,
    members: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The problem object; `members` adds extension members (`problems`, `retryAfter`)."""
    return {
        "type": rule.problem_type,
        "title": rule.title,
        "status": rule.status,
        "detail": detail,
        "instance": instance,
        "code": rule.code,
        "requestId": request_id,
        **(members or {}),
    }


def problem_headers(rule: ErrorRule, members: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The headers a problem implies: `WWW-Authenticate` on 401, `Retry-After` with a delay."""
    headers: dict[str, str] = {}
    if rule.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if members and "retryAfter" in members:
        headers["Retry-After"] = str(max(1, round(float(members["retryAfter"]))))
    return headers


def problem_bytes(
    rule: ErrorRule,
    detail: str,
    *,
    instance: str,
    request_id: str,
    members: Mapping[str, Any] | None = None,
) -> bytes:
    return orjson.dumps(
        problem_document(rule, detail, instance=instance, request_id=request_id, members=members)
    )
