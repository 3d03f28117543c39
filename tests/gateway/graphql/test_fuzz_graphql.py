"""No operation a client can write reaches INTERNAL_SERVER_ERROR or a 5xx.

Hypothesis generates queries and mutations from the committed SDL (hypothesis-graphql),
each root field equally often, with NUL characters in strings, 32-bit extremes in Ints
and amounts past every column, and sends them as an admin so that every mutation runs,
against PostgreSQL (where a NUL or an overflow is an error, not a value). Whatever the
gateway makes of them, it answers with a code a client can act on. The budget is
bounded (a fixed, derandomized number of examples) so the test stays well under a minute.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest
from graphql import IntValueNode, StringValueNode
from graphql import build_schema as build_sdl
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, queries

from gateway.app import create_app
from gateway.container import Container, build_container
from gateway.settings import Settings
from tests import migrated
from tests.gateway.world import World, as_user, gid, populate
from tests.helpers import scratch_postgres_database
from tests.persistence.databases import EMPTY_POSTGRES
from tests.services import require_service

SDL = (Path(__file__).parents[3] / "schema" / "schema.graphql").read_text()
EXAMPLES = 80
ROOTS = {
    "query": sorted(build_sdl(SDL).query_type.fields),  # type: ignore[union-attr]  # the SDL has both roots
    "mutation": sorted(build_sdl(SDL).mutation_type.fields),  # type: ignore[union-attr]
}

decimals = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=0, max_value=10**6),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        ["99999999999999999.99", "-99999999999999999.99", "1e30", "1e-30", "NaN", "12,5", ""]
    ),
    st.sampled_from(["92233720368547758.07", "10000000000000", "-0.01", "0.001"]),
).map(lambda value: StringValueNode(value=str(value)))
datetimes = st.one_of(
    st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
    st.sampled_from(["2026-13-01T00:00:00Z", "yesterday", "0001-01-01T00:00:00"]),
).map(lambda value: StringValueNode(value=value))
# Strings with NUL characters, past the length limit, or that mean something (a real
# SKU, email or role); Ints at the 32-bit edges; ids of objects that exist, and not.
strings = st.one_of(
    st.text(max_size=20),
    st.text(max_size=5).map(lambda text: text + "\x00"),
    st.sampled_from(
        ["\x00", "a\x00b", "WIDGET-1", "admin@example.com", "ADMIN", "staff", "x" * 10_001]
    ),
).map(lambda value: StringValueNode(value=value))
ints = st.one_of(
    st.integers(-(2**31), 2**31 - 1),
    st.sampled_from([0, -1, 1, 100, 101, 2**31 - 1, -(2**31), 1_000_000_001]),
).map(lambda value: IntValueNode(value=str(value)))
ids = st.one_of(
    # Mostly objects that exist (the world has items 1-3, orders 1-2, users 1-4).
    st.sampled_from(
        [gid("Item", n) for n in (1, 2, 3)]
        + [gid("Order", n) for n in (1, 2)]
        + [gid("User", n) for n in (1, 2, 3, 4)]
    ),
    st.sampled_from(["0", "", "\x00", gid("Item", 2**40)]),
).map(lambda value: StringValueNode(value=value))
SCALARS = {
    "Decimal": decimals,
    "DateTime": datetimes,
    "String": strings,
    "Int": ints,
    "ID": ids,
}


async def _prepare(settings: Settings) -> tuple[Container, World]:
    await migrated.upgrade(settings.database.url)
    container = build_container(settings)
    async with container.engine.begin() as conn:
        await conn.execute(EMPTY_POSTGRES)
    return container, await populate(container)


def _masked_or_5xx(response: httpx.Response) -> list[Any]:
    if response.status_code >= 500:
        return [response.status_code, response.text]
    body = response.json()
    return [
        error
        for error in body.get("errors") or []
        if error.get("extensions", {}).get("code") == "INTERNAL_SERVER_ERROR"
    ]


@pytest.fixture(scope="module")
def postgres_url(postgres_available: bool) -> Any:
    require_service("PostgreSQL", postgres_available)
    with scratch_postgres_database("gw_test_fuzz") as url:
        yield url


@pytest.mark.parametrize("kind", ["query", "mutation"])
def test_generated_operations_never_crash(settings: Settings, postgres_url: str, kind: str) -> None:
    generate = queries if kind == "query" else mutations
    # One strategy per root field: each is tried about as often as any other.
    strategy: st.SearchStrategy[str] = st.one_of(
        *(
            # Every optional argument and input field given: more values reach SQL.
            generate(SDL, fields=[root], custom_scalars=SCALARS, allow_null=False)
            for root in ROOTS[kind]
        )
    )
    settings.database.url = postgres_url
    with anyio.from_thread.start_blocking_portal() as portal:
        container, world = portal.call(_prepare, settings)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings, container)),
            base_url="http://gateway.test",
        )
        headers = as_user(world.admin)

        @given(document=strategy)
        @hypothesis_settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(document: str) -> None:
            async def post() -> httpx.Response:
                return await client.post("/graphql", json={"query": document}, headers=headers)

            response = portal.call(post)
            assert _masked_or_5xx(response) == [], document

        try:
            run()
        finally:
            portal.call(client.aclose)
            portal.call(container.aclose)
