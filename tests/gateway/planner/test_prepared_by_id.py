"""A by-id root whose `id` is a variable is prepared once for every id.

After one request of `item(id: $id)`, any other id is answered by the prepared replay
from the same entry and the same compiled statement, and every answer (rows missing,
hidden by the caller's rules, ids malformed or of another type) is the full path's.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.graphql.prepared_operations import PreparedOperations
from persistence.read_model import SqlReadModel
from schema.node import to_global_id
from tests.gateway.planner.diff import first_difference
from tests.gateway.planner.executions import Executions
from tests.gateway.planner.gateways import (
    ADMIN,
    CUSTOMER,
    OTHER_CUSTOMER,
    STAFF,
    Gateway,
    Planned,
)

ITEM = "query Item($id: ID!) { item(id: $id) { id name sku price { amount currency } } }"
ORDER = "query Order($id: ID!) { order(id: $id) { id status customer { name } } }"
USER = "query User($v: ID!) { user(id: $v) { name email } }"


def _prepared(gateway: Gateway) -> PreparedOperations:
    prepared = gateway.container.prepared
    assert prepared is not None
    return prepared


def _statements(gateway: Gateway) -> int:
    """How many statement sets the read model compiled and keeps."""
    model = _prepared(gateway)._fetch.__self__  # type: ignore[attr-defined]  # the bound fetch
    assert isinstance(model, SqlReadModel)
    return len(model._statements)


async def _same(
    on: Gateway, off: Gateway, query: str, variables: dict[str, Any], user: int
) -> dict[str, Any]:
    got = await on.ask(query, variables, user)
    reference = await off.ask(query, variables, user)
    assert (got.status, got.body) == (reference.status, reference.body), first_difference(
        (got.status, got.body), (reference.status, reference.body)
    )
    body: dict[str, Any] = got.body
    return body


@pytest.mark.parametrize(
    ("query", "variable", "entity", "keys", "user"),
    [
        (ITEM, "id", "Item", [3, 4, 7, 2, 30], CUSTOMER),
        (ITEM, "id", "Item", [3, 4, 7, 2, 30], ADMIN),
        (USER, "v", "User", [CUSTOMER, 1, 2, 5, OTHER_CUSTOMER], ADMIN),
        (ORDER, "id", "Order", [], CUSTOMER),  # theirs (below) and others' orders
        (ORDER, "id", "Order", [5, 6, 7, 8], ADMIN),
    ],
)
async def test_an_id_never_asked_is_answered_by_the_replay_as_the_full_path_answers_it(
    planner_on: Gateway,
    planner_off: Gateway,
    planned: Planned,
    executions: Executions,
    query: str,
    variable: str,
    entity: str,
    keys: list[int],
    user: int,
) -> None:
    if not keys:
        own = await planner_off.ask("{ orders(first: 3) { edges { node { id } } } }", None, user)
        edges = own.body["data"]["orders"]["edges"]
        assert edges, "the customer has orders"
        theirs = [int(base64.b64decode(e["node"]["id"]).split(b":")[1]) for e in edges]
        others = [key for key in range(1, 12) if key not in theirs][:6]
        keys = [others[0], *theirs, *others[1:]]
        executions.count = 0
    bodies = []
    for key in keys:
        variables = {variable: to_global_id(entity, key)}
        got = await planner_on.ask(query, variables, user)
        assert executions.count == 1, f"{entity} {key} ran Strawberry"
        bodies.append(got.body)
    assert planned.count == len(keys)  # every one fetched by the read model
    assert _prepared(planner_on).hits == len(keys) - 1
    assert _statements(planner_on) == 1, "a statement compiled per id"
    for key, body in zip(keys, bodies, strict=True):
        reference = await planner_off.ask(query, {variable: to_global_id(entity, key)}, user)
        assert (200, body) == (reference.status, reference.body), first_difference(
            body, reference.body
        )
    if entity == "Order" and user == CUSTOMER:  # some of them hidden by the customer's rule
        assert any(body["data"]["order"] is None for body in bodies)
        assert any(body["data"]["order"] is not None for body in bodies)


async def test_more_ids_than_the_caches_hold_are_all_answered_by_one_entry(
    planner_on: Gateway, executions: Executions
) -> None:
    prepared = _prepared(planner_on)
    # The cache made to hold 40 entries (1,000 by default): 60 ids are more than it holds,
    # as 1,500 were more than the default, in a twenty-fifth of the requests (~8 s).
    prepared._maxsize = 40
    for key in range(1, 61):  # 30 items, the rest missing: null, as the full path says
        answer = await planner_on.ask(ITEM, {"id": to_global_id("Item", key)}, ADMIN)
        assert answer.status == 200
        assert (answer.body["data"]["item"] is None) == (key > 30), key
    assert executions.count == 1
    assert (prepared.hits, prepared.misses) == (59, 1)
    assert len(prepared) == 1
    assert _statements(planner_on) == 1


def _encoded(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


@pytest.mark.parametrize(
    "value",
    [
        "not an id",
        to_global_id("User", 3),  # another type's id
        to_global_id("Item", 99_999),  # no such row
        _encoded("Item:0"),
        _encoded(f"Item:{2**63}"),  # past the key's range
        _encoded(f"Item:{2**31}"),  # past a 32-bit column
        _encoded("Item:03"),  # not written as the gateway writes ids
        _encoded("Item:" + "0" * 8_000 + "3"),  # too long a string for the input limits
        base64.b64encode(b"Item:3").decode().rstrip("="),  # unpadded
        "",
    ],
)
@pytest.mark.parametrize("user", [ADMIN, CUSTOMER])
async def test_an_odd_id_is_answered_as_the_full_path_answers_it(
    planner_on: Gateway, planner_off: Gateway, executions: Executions, value: str, user: int
) -> None:
    await _same(planner_on, planner_off, ITEM, {"id": to_global_id("Item", 4)}, user)
    body = await _same(planner_on, planner_off, ITEM, {"id": value}, user)
    await _same(planner_on, planner_off, ITEM, {"id": to_global_id("Item", 5)}, user)
    if body.get("errors"):  # refused: through the full path on both gateways
        assert executions.count == 5
    # The template is still there for the other ids.
    before = executions.count
    await _same(planner_on, planner_off, ITEM, {"id": to_global_id("Item", 6)}, user)
    assert executions.count == before + 1  # the reference only


async def test_a_variable_used_elsewhere_too_stays_in_the_key(
    planner_on: Gateway, planner_off: Gateway, executions: Executions
) -> None:
    twice = "query Two($id: ID!) { item(id: $id) { name } again: item(id: $id) { sku } }"
    for key in (3, 4):
        await _same(planner_on, planner_off, twice, {"id": to_global_id("Item", key)}, ADMIN)
    assert executions.count == 4  # each id through Strawberry (its reference aside)
    in_a_fragment = (
        "query F($id: ID!) { item(id: $id) { name } ...More } "
        "fragment More on Query { other: item(id: $id) { sku } }"
    )
    for key in (3, 4):
        await _same(planner_on, planner_off, in_a_fragment, {"id": to_global_id("Item", key)}, 1)
    assert executions.count == 8


async def test_the_other_variables_stay_in_the_key(
    planner_on: Gateway, planner_off: Gateway, executions: Executions
) -> None:
    query = (
        "query Both($id: ID!, $n: Int!, $more: Boolean!) { item(id: $id) { name } "
        "items(first: $n) { edges { node { sku } } } "
        "users(first: 2) @include(if: $more) { totalCount } }"
    )

    def given(key: int, n: int, more: bool) -> dict[str, Any]:
        return {"id": to_global_id("Item", key), "n": n, "more": more}

    await _same(planner_on, planner_off, query, given(3, 2, False), ADMIN)
    assert executions.count == 2
    await _same(planner_on, planner_off, query, given(4, 2, False), ADMIN)
    assert executions.count == 3  # the reference alone: the id is a slot
    body = await _same(planner_on, planner_off, query, given(4, 3, False), ADMIN)
    assert len(body["data"]["items"]["edges"]) == 3
    assert executions.count == 5  # another page size: another entry
    body = await _same(planner_on, planner_off, query, given(5, 2, True), ADMIN)
    assert "users" in body["data"]
    assert executions.count == 7  # another @include: another entry
    await _same(planner_on, planner_off, query, given(6, 2, False), ADMIN)
    await _same(planner_on, planner_off, query, given(7, 2, True), ADMIN)
    await _same(planner_on, planner_off, query, given(8, 3, False), ADMIN)
    assert executions.count == 10  # each of the three entries serves every id


async def _rest(gateway: Gateway, path: str, user: int) -> tuple[int, Any, str | None]:
    response = await gateway.client.get(path, headers={"X-Debug-User": str(user)})
    content = response.content
    if response.status_code != 200:  # a problem names its request
        content = content.replace(response.json()["requestId"].encode(), b"<request>")
    return response.status_code, content, response.headers.get("etag")


@pytest.mark.parametrize("user", [CUSTOMER, ADMIN])
async def test_a_rest_read_by_an_id_never_asked_is_answered_by_the_replay(
    planner_on: Gateway, planner_off: Gateway, executions: Executions, user: int
) -> None:
    paths = [f"/api/v1/items/{to_global_id('Item', key)}" for key in (3, 4, 7, 99)]
    answers = [await _rest(planner_on, path, user) for path in paths]
    assert executions.count == 1, "a REST read by another id ran Strawberry"
    assert [status for status, _, _ in answers] == [200, 200, 200, 404]
    assert all(etag is not None for _, _, etag in answers[:3])
    reference = [await _rest(planner_off, path, user) for path in paths]
    assert answers == reference  # bytes and ETags


async def test_ids_asked_in_any_order_answer_as_the_full_path(
    planner_on: Gateway, planner_off: Gateway, executions: Executions
) -> None:
    """A sweep over ids of each by-id root, callers who see all, some or none of them."""
    order = "query O($id: ID!) { order(id: $id) { id status total { amount } } }"
    for user in (CUSTOMER, OTHER_CUSTOMER, ADMIN):
        for key in (1, 17, 2, 300, 301, 40, 0, 9):
            value = to_global_id("Order", key) if key else "T3JkZXI6MQ"
            await _same(planner_on, planner_off, order, {"id": value}, user)
    # Three callers' roles: two entries (customers share one), the odd id twice more.
    assert executions.count == 24 + 2 + 3


ROOTS = {"Item": ITEM, "Order": ORDER, "User": USER.replace("$v", "$id")}
_ids = st.one_of(
    st.builds(to_global_id, st.sampled_from(sorted(ROOTS)), st.integers(-1, 400)),
    st.text(max_size=12),
)


@pytest.mark.timeout(600)
@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    root=st.sampled_from(sorted(ROOTS)),
    value=_ids,
    user=st.sampled_from([None, CUSTOMER, OTHER_CUSTOMER, STAFF, ADMIN]),
)
async def test_random_ids_answer_as_the_full_path(
    planner_on: Gateway, planner_off: Gateway, root: str, value: str, user: int | None
) -> None:
    """Each example asked of one gateway across the examples: most replay a template."""
    got = await planner_on.ask(ROOTS[root], {"id": value}, user)
    expected = await planner_off.ask(ROOTS[root], {"id": value}, user)
    assert (got.status, got.body) == (expected.status, expected.body), first_difference(
        (got.status, got.body), (expected.status, expected.body)
    )
