"""Schemathesis against the generated OpenAPI: no 5xx, every answer fits its documented schema,
status and media type, and schema-breaking requests are refused.

Each operation is one test, run synchronously on its own blocking portal (one event loop for
the app, its database and every request); Hypothesis drives it with a bounded, derandomized
budget, valid requests first, then schema-breaking ones.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import anyio.from_thread
import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from starlette.requests import Request

from gateway.app import create_app
from gateway.container import Container, build_container
from gateway.rest import RestApi
from gateway.settings import Settings
from schema import build_schema
from tests import migrated
from tests.gateway.world import World, as_user, populate

schemathesis = pytest.importorskip(
    "schemathesis", reason="schemathesis (dev dependency group) is not installed"
)

BASE = "http://gateway.test"
EXAMPLES = {"positive": 25, "negative": 15}


async def _unused_context(_: Request) -> None:
    return None


ROUTES = sorted((op.method, op.path) for op in RestApi(build_schema(), _unused_context).operations)


async def _prepare(settings: Settings) -> tuple[Container, World]:
    await migrated.upgrade(settings.database.url)
    container = build_container(settings)
    return container, await populate(container)


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_schemathesis_finds_nothing(settings: Settings, method: str, path: str) -> None:
    checks = schemathesis.checks
    chosen = [
        checks.not_a_server_error,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_schema_conformance,
        checks.negative_data_rejection,
    ]
    with anyio.from_thread.start_blocking_portal() as portal:
        container, world = portal.call(_prepare, settings)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings, container)), base_url=BASE
        )
        try:
            raw = portal.call(client.get, "/openapi.json").json()
            operation = schemathesis.openapi.from_dict(raw)[path][method]

            def send(**kwargs: Any) -> httpx.Response:
                response: httpx.Response = portal.call(partial(client.request, **kwargs))
                return response

            for mode in schemathesis.GenerationMode:
                _fuzz(operation, mode, send, as_user(world.staff), chosen)
        finally:
            portal.call(client.aclose)
            portal.call(container.aclose)


def _fuzz(
    operation: Any,
    mode: Any,
    send: Callable[..., httpx.Response],
    headers: dict[str, str],
    chosen: list[Any],
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(
        max_examples=EXAMPLES[mode.value],
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url=BASE, headers=headers)
        kwargs.pop("cookies", None)  # none are documented; httpx deprecates per-request cookies
        if isinstance(kwargs.get("data"), bytes | str):  # requests' spelling of raw content
            kwargs["content"] = kwargs.pop("data")
        case.validate_response(send(**kwargs), checks=chosen)

    try:
        run()
    except Unsatisfiable:
        # Nothing in this operation can be made invalid (only free-form strings): fine.
        if mode is not schemathesis.GenerationMode.NEGATIVE:
            raise
