"""Concurrent reads by id on Postgres go to the database together, each answered as alone.

Requests started together reach the read model in the same turn of the event loop, so
their reads by id of one prepared template go as one statement (persistence.coalesced_reads);
every answer must be the one the resolvers give that caller alone: missing and hidden
objects null, a customer's rule applied to that customer only, an id past the key
column's range refused as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schema.node import parse_global_id, to_global_id
from tests.gateway.coalesced import Batches
from tests.gateway.coalesced import batches as batches  # the fixture
from tests.gateway.planner.diff import first_difference
from tests.gateway.planner.gateways import ADMIN, CUSTOMER, OTHER_CUSTOMER, STAFF, Gateway

ITEM = "query Item($id: ID!) { item(id: $id) { id name sku active price { amount currency } } }"
ORDER = "query Order($id: ID!) { order(id: $id) { id status customer { name } } }"
USER = "query User($id: ID!) { user(id: $id) { name email } }"

# Items 1-30 exist; 5 and those orders reference are inactive (hidden from customers).
ITEM_KEYS = [1, 2, 3, 5, 7, 11, 30, 31, 999, 2**31, 2**40, 4, 5, 1]


async def _asked_together(
    on: Gateway,
    off: Gateway,
    asks: list[tuple[str, str, int, int]],
    batches: Batches,
    *,
    gathered: bool = True,
) -> list[dict[str, Any]]:
    """Each (query, entity, key, user) asked at once on `on`, after each template was
    prepared; each answer compared with `off`'s answer to the same request alone.
    `gathered`: a leader waits for every read of an int4 key (else until no more come)."""
    for query, entity, user in {(query, entity, user) for query, entity, _, user in asks}:
        await on.ask(query, {"id": to_global_id(entity, 1)}, user)
    batches.sizes.clear()
    batches.expected = sum(1 for _, _, key, _ in asks if key < 2**31) if gathered else None
    got = await asyncio.gather(
        *(
            on.ask(query, {"id": to_global_id(entity, key)}, user)
            for query, entity, key, user in asks
        )
    )
    bodies = []
    for (query, entity, key, user), answer in zip(asks, got, strict=True):
        alone = await off.ask(query, {"id": to_global_id(entity, key)}, user)
        assert (answer.status, answer.body) == (alone.status, alone.body), (
            entity,
            key,
            user,
            first_difference(answer.body, alone.body),
        )
        bodies.append(answer.body)
    return bodies


async def test_items_asked_at_once_go_together_and_each_is_answered_as_alone(
    planner_on: Gateway, planner_off: Gateway, batches: Batches
) -> None:
    asks = [(ITEM, "Item", key, user) for user in (CUSTOMER, ADMIN, STAFF) for key in ITEM_KEYS]
    bodies = await _asked_together(planner_on, planner_off, asks, batches)
    # Two groups: a customer's rules hide inactive items; an admin's and staff's do not,
    # and the statement takes no caller's id, so the two callers' reads go together. In
    # each, the keys an int4 holds: the two past its range went alone.
    held = len(ITEM_KEYS) - 2
    assert sorted(batches.sizes) == [held, 2 * held]  # the two leaders in either order
    customer = dict(zip(ITEM_KEYS, bodies[: len(ITEM_KEYS)], strict=True))
    admin = dict(zip(ITEM_KEYS, bodies[len(ITEM_KEYS) : 2 * len(ITEM_KEYS)], strict=True))
    assert customer[5]["data"]["item"] is None
    assert admin[5]["data"]["item"] is not None
    assert customer[999]["data"]["item"] is None
    assert "errors" in customer[2**40] or customer[2**40]["data"]["item"] is None


async def test_each_customer_sees_their_own_orders_when_asking_together(
    planner_on: Gateway, planner_off: Gateway, batches: Batches
) -> None:
    keys: list[int] = []
    for user in (CUSTOMER, OTHER_CUSTOMER):
        own = await planner_off.ask("{ orders(first: 4) { edges { node { id } } } }", None, user)
        keys += [parse_global_id(e["node"]["id"])[1] for e in own.body["data"]["orders"]["edges"]]
    assert len(keys) == 8, "each customer has orders"
    asks = [(ORDER, "Order", key, user) for key in keys for user in (CUSTOMER, OTHER_CUSTOMER)]
    bodies = await _asked_together(planner_on, planner_off, asks, batches)
    seen = [body["data"]["order"] is not None for body in bodies]
    assert seen == [True, False] * 4 + [False, True] * 4, "each sees their own orders only"
    # Two groups: a customer's rule names them, so their reads never go with another's.
    assert batches.sizes == [8, 8]


async def test_rest_reads_by_id_at_once_go_together_with_the_same_bodies_and_etags(
    planner_on: Gateway, planner_off: Gateway, batches: Batches
) -> None:
    paths = [f"/api/v1/items/{to_global_id('Item', key)}" for key in (1, 2, 3, 5, 999, 7, 3)]
    headers = {"X-Debug-User": str(STAFF)}
    await planner_on.client.get(paths[0], headers=headers)
    batches.sizes.clear()
    batches.expected = len(paths)
    got = await asyncio.gather(*(planner_on.client.get(p, headers=headers) for p in paths))
    for path, response in zip(paths, got, strict=True):
        alone = await planner_off.client.get(path, headers=headers)
        assert (response.status_code, _unique(response.json())) == (
            alone.status_code,
            _unique(alone.json()),
        )
        assert response.headers.get("etag") == alone.headers.get("etag")
    assert batches.sizes == [len(paths)]


def _unique(body: dict[str, Any]) -> dict[str, Any]:
    """A REST body but its request id (each request's own)."""
    return {name: value for name, value in body.items() if name != "requestId"}


async def test_users_asked_once_each_go_alone(
    planner_on: Gateway, planner_off: Gateway, batches: Batches
) -> None:
    for key in (1, 4, 9):
        await _asked_together(planner_on, planner_off, [(USER, "User", key, ADMIN)], batches)
    assert batches.sizes == []


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([(ITEM, "Item"), (ORDER, "Order"), (USER, "User")]),
            st.one_of(st.integers(1, 40), st.integers(-5, 2**33)),
            st.sampled_from([ADMIN, STAFF, CUSTOMER, OTHER_CUSTOMER]),
        ),
        min_size=2,
        max_size=16,
    )
)
async def test_any_mix_of_reads_asked_at_once_is_answered_as_each_alone(
    planner_on: Gateway,
    planner_off: Gateway,
    batches: Batches,
    asks: list[tuple[tuple[str, str], int, int]],
) -> None:
    await _asked_together(
        planner_on,
        planner_off,
        [(query, entity, key, user) for (query, entity), key, user in asks],
        batches,
        gathered=False,  # not every read reaches the database (a caller who reads no users)
    )
