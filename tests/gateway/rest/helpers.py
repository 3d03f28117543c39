"""The REST tests' helpers: the operations an app mounted, and the problem+json a
refusal is expected to be."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette

from gateway.rest.endpoint import PathEndpoint
from gateway.rest.operation import RestOperation

PROBLEMS = "https://python-api-base.dev/problems/"


def operations(app: Starlette) -> dict[str, RestOperation]:
    """The compiled operations by operationId, as the app mounted them."""
    found: dict[str, RestOperation] = {}
    for route in app.routes:
        endpoint = getattr(route, "app", None)
        if isinstance(endpoint, PathEndpoint):
            found.update((op.operation_id, op) for op in endpoint.operations.values())
    return found


def problem(
    response: httpx.Response, slug: str, title: str, detail: str, code: str, **members: Any
) -> dict[str, Any]:
    return {
        "type": PROBLEMS + slug,
        "title": title,
        "status": response.status_code,
        "detail": detail,
        "instance": response.url.path,
        "code": code,
        "requestId": response.headers["x-request-id"],
        **members,
    }
