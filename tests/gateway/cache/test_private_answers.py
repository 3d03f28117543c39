"""A cached answer is never served to a caller it was not computed for.

Hypothesis sends random sequences of queries as random callers (anonymous, two
customers, staff, an admin) to a gateway with the response cache, and each answer must
be the one a gateway without a cache gives that caller over the same database.
Customers see their own orders only and each their own `me`; staff see inactive items;
so an answer served to the wrong caller differs from the reference.
"""

from __future__ import annotations

from typing import Any

import anyio.from_thread
import httpx
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from domain.money import Money
from domain.principals import Principal
from domain.services.items import ItemChanges
from gateway.app import create_app
from gateway.container import Container, build_container
from gateway.settings import Settings
from tests import migrated
from tests.gateway.world import World, as_user, gid, populate

CALLERS = ["anonymous", "alice", "bob", "staff", "admin"]
QUERIES = [
    "{ me { id name email } }",
    "{ me { orders { totalCount edges { node { id total { amount } } } } } }",
    "{ orders { totalCount edges { node { id status customer { name } } } } }",
    "query($id: ID!) { order(id: $id) { id status lines { quantity } } }",
    "query($id: ID!) { node(id: $id) { id ... on Order { status } ... on User { name } } }",
    "{ items(filter: {active: false}) { totalCount edges { node { id name } } } }",
    "{ items { totalCount edges { node { id name stock } } } }",
    "{ users { totalCount edges { node { id name } } } }",
]


async def _prepare(settings: Settings) -> tuple[Container, Container, World]:
    await migrated.upgrade(settings.database.url)
    cached = build_container(settings)
    reference = build_container(_without_cache(settings))
    world = await populate(cached)
    # An inactive item: visible to staff only, so the catalog differs by role.
    hidden = await cached.services.items.create(
        Principal.system(), sku="HIDDEN-1", name="Hidden", price=Money.of("1.00")
    )
    await cached.services.items.update(Principal.system(), hidden.id, ItemChanges(active=False))
    await cached.relay.drain()
    return cached, reference, world


def _without_cache(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"cache": settings.cache.model_copy(update={"enabled": False})}
    )


def _headers(world: World, caller: str) -> dict[str, str]:
    user = {
        "alice": world.alice,
        "bob": world.bob,
        "staff": world.staff,
        "admin": world.admin,
    }.get(caller)
    return as_user(user) if user is not None else {}


def test_a_cached_answer_is_only_served_to_the_caller_it_was_for(settings: Settings) -> None:
    with anyio.from_thread.start_blocking_portal() as portal:
        cached, reference, world = portal.call(_prepare, settings)
        ids = [gid("Order", world.alice_order), gid("Order", world.bob_order)]
        ids += [gid("User", world.alice), gid("User", world.bob)]
        clients = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(settings, container)),
                base_url="http://gateway.test",
            )
            for container in (cached, reference)
        ]
        requests = st.lists(
            st.tuples(st.sampled_from(CALLERS), st.sampled_from(QUERIES), st.sampled_from(ids)),
            min_size=1,
            max_size=12,
        )

        @given(sequence=requests)
        @hypothesis_settings(
            max_examples=60,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(sequence: list[tuple[str, str, str]]) -> None:
            for caller, query, some_id in sequence:
                variables = {"id": some_id} if "$id" in query else {}

                async def ask(client: httpx.AsyncClient, payload: Any, headers: Any) -> Any:
                    response = await client.post("/graphql", json=payload, headers=headers)
                    return response.status_code, response.json()

                payload = {"query": query, "variables": variables}
                got, expected = (
                    portal.call(ask, client, payload, _headers(world, caller)) for client in clients
                )
                assert got == expected, (caller, query, variables)

        try:
            run()
            registry = cached.observability.metrics.registry
            hits = registry.get_sample_value(
                "gateway_response_cache_lookups_total", {"result": "hit"}
            )
            # Not vacuous: most answers came from the cache.
            assert hits is not None
            assert hits > 100
        finally:
            for client in clients:
                portal.call(client.aclose)
            portal.call(cached.aclose)
            portal.call(reference.aclose)
