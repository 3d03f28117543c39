"""A many-to-many written through its association entity's generic mutations, on SQLite
and on Postgres: a pair is linked once at most, however many requests race to link it;
a link (or any reference) to an object that does not exist is the client's error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from gateway.container import Container
from gateway.settings import Settings
from tests.entities.apps import Api, created_id, settings_per_backend
from tests.entities.vendors import TAGGINGS
from tests.gateway.world import World, as_user, gid

LINK = """
mutation($vendor: ID!, $tag: ID!) {
  createVendorTagging(input: {vendorId: $vendor, tagId: $tag}) { id vendor { name } tag { label } }
}
"""
UNLINK = "mutation($id: ID!) { deleteVendorTagging(id: $id) { deletedId } }"
TAGS = """
query($id: ID!) { vendor(id: $id) {
  tags(orderBy: {field: LABEL}) { totalCount edges { node { label vendors { totalCount } } } } } }
"""
VENDOR = "mutation($input: CreateVendorInput!) { createVendor(input: $input) { id } }"
TAG = "mutation($input: CreateVendorTagInput!) { createVendorTag(input: $input) { id } }"
# Nothing of the database's own words reaches a client.
INTERNAL_WORDS = ("constraint", "foreign key", "sql", "test_vendor", "insert", "table")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """The entity tests' gateway over each backend (a fresh database per test)."""
    yield from settings_per_backend(request, tmp_path, "links")


async def _stored_links(container: Container) -> list[tuple[int, int]]:
    async with container.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(TAGGINGS.c.vendor_id, TAGGINGS.c.tag_id).order_by(TAGGINGS.c.id)
        )
        return [(row.vendor_id, row.tag_id) for row in rows]


def _says_nothing_internal(error: dict[str, Any]) -> None:
    text = str(error).lower()
    assert not [word for word in INTERNAL_WORDS if word in text], error


async def test_links_are_made_and_removed_through_the_association_entity(
    api: Api, world: World
) -> None:
    staff = world.staff
    vendor = await created_id(api, staff, VENDOR, {"name": "Acme", "email": "sales@acme.example"})
    local = await created_id(api, staff, TAG, {"label": "local"})
    bulk = await created_id(api, staff, TAG, {"label": "bulk"})
    variables = {"vendor": vendor, "tag": local}
    refused = await api.ask(LINK, variables, user=world.alice)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    linked = await api.ask(LINK, variables, user=staff)
    assert linked["data"]["createVendorTagging"]["vendor"] == {"name": "Acme"}
    assert linked["data"]["createVendorTagging"]["tag"] == {"label": "local"}
    # A pair is linked once: linking it again is refused, as any duplicate.
    twice = await api.ask(LINK, variables, user=staff)
    assert twice["data"] is None
    assert (twice["errors"][0]["message"], twice["errors"][0]["extensions"]) == (
        "a vendortagging with this tag_id and vendor_id already exists",
        {"code": "ALREADY_EXISTS"},
    )
    await api.ask(LINK, {"vendor": vendor, "tag": bulk}, user=staff)

    def listed(*labels: str) -> dict[str, Any]:
        edges = [{"node": {"label": label, "vendors": {"totalCount": 1}}} for label in labels]
        return {"data": {"vendor": {"tags": {"totalCount": len(labels), "edges": edges}}}}

    assert await api.ask(TAGS, {"id": vendor}, user=staff) == listed("bulk", "local")
    # A linked row stays until its links are removed: a conflict with the stored state.
    kept = await api.ask(
        "mutation($id: ID!) { deleteVendorTag(id: $id) { deletedId } }", {"id": bulk}, user=staff
    )
    assert kept["data"] is None
    assert (kept["errors"][0]["message"], kept["errors"][0]["extensions"]) == (
        "other objects still refer to it; remove them first",
        {"code": "CONFLICT"},
    )
    ident = linked["data"]["createVendorTagging"]["id"]
    removed = await api.ask(UNLINK, {"id": ident}, user=staff)
    assert removed == {"data": {"deleteVendorTagging": {"deletedId": ident}}}
    assert await api.ask(TAGS, {"id": vendor}, user=staff) == listed("bulk")
    # Unlinked, the pair may be linked again.
    again = await api.ask(LINK, variables, user=staff)
    assert "errors" not in again, again


async def test_requests_racing_to_link_one_pair_store_one_link(
    api: Api, world: World, container: Container
) -> None:
    staff = world.staff
    vendor = await created_id(api, staff, VENDOR, {"name": "Acme", "email": "sales@acme.example"})
    tag = await created_id(api, staff, TAG, {"label": "local"})
    racing = 6
    answers = await asyncio.gather(
        *(api.ask(LINK, {"vendor": vendor, "tag": tag}, user=staff) for _ in range(racing))
    )
    made = [a for a in answers if "errors" not in a]
    refused = sorted(e["extensions"]["code"] for a in answers for e in a.get("errors", []))
    assert (len(made), refused) == (1, ["ALREADY_EXISTS"] * (racing - 1)), answers
    assert len(await _stored_links(container)) == 1


async def test_a_link_to_an_object_that_does_not_exist_is_bad_input(
    api: Api, world: World, client: httpx.AsyncClient, container: Container
) -> None:
    staff = world.staff
    vendor = await created_id(api, staff, VENDOR, {"name": "Acme", "email": "sales@acme.example"})
    tag = await created_id(api, staff, TAG, {"label": "local"})
    for variables, field, target in (
        ({"vendor": vendor, "tag": gid("VendorTag", 999)}, "input.tagId", "VendorTag"),
        ({"vendor": gid("Vendor", 999), "tag": tag}, "input.vendorId", "Vendor"),
    ):
        refused = await api.ask(LINK, variables, user=staff)
        message = f"refers to a {target} that does not exist"
        assert refused["data"] is None
        assert refused["errors"][0]["message"] == f"{field}: {message}"
        assert refused["errors"][0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "problems": [{"field": field, "message": message}],
        }
        _says_nothing_internal(refused["errors"][0])
    # REST answers through the same mapping: 422, problem+json, the same problem.
    body = {"vendorId": vendor, "tagId": gid("VendorTag", 999)}
    response = await client.post("/api/v1/vendor-taggings", json=body, headers=as_user(staff))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem["problems"]) == (
        "BAD_USER_INPUT",
        [{"field": "input.tagId", "message": "refers to a VendorTag that does not exist"}],
    )
    _says_nothing_internal(problem)
    assert await _stored_links(container) == []


async def test_an_update_referring_to_an_object_that_does_not_exist_is_bad_input(
    api: Api, world: World
) -> None:
    vendor = await created_id(
        api, world.staff, VENDOR, {"name": "Acme", "email": "sales@acme.example"}
    )
    update = """mutation($id: ID!, $manager: ID!) {
      updateVendor(id: $id, input: {managerId: $manager}) { id } }"""
    refused = await api.ask(update, {"id": vendor, "manager": gid("User", 999)}, user=world.staff)
    assert refused["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "problems": [
            {"field": "input.managerId", "message": "refers to a User that does not exist"}
        ],
    }
    _says_nothing_internal(refused["errors"][0])
    kept = await api.ask(
        update, {"id": vendor, "manager": gid("User", world.staff)}, user=world.staff
    )
    assert "errors" not in kept, kept


async def test_a_link_to_an_object_the_caller_does_not_see_is_as_to_none(
    api: Api, world: World, container: Container
) -> None:
    # Staff link vendors and tags (`vendors:write`) but see neither inactive vendors
    # nor private tags: those are refused exactly as objects that do not exist.
    admin, staff = world.admin, world.staff
    active = {"name": "Acme", "email": "sales@acme.example"}
    vendor = await created_id(api, admin, VENDOR, active)
    inactive = await created_id(api, admin, VENDOR, {**active, "name": "Old", "active": False})
    public = await created_id(api, admin, TAG, {"label": "local"})
    private = await created_id(api, admin, TAG, {"label": "watch", "public": False})
    for variables, field, target in (
        ({"vendor": vendor, "tag": private}, "input.tagId", "VendorTag"),
        ({"vendor": inactive, "tag": public}, "input.vendorId", "Vendor"),
    ):
        refused = await api.ask(LINK, variables, user=staff)
        message = f"refers to a {target} that does not exist"
        assert refused["errors"][0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "problems": [{"field": field, "message": message}],
        }, refused
        allowed = await api.ask(LINK, variables, user=admin)
        assert "errors" not in allowed, allowed
    assert len(await _stored_links(container)) == 2


async def test_a_link_is_never_updated(api: Api, world: World) -> None:
    update = 'mutation { updateVendorTagging(id: "x", input: {}) { id } }'
    absent = await api.ask(update, user=world.staff)
    assert absent["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
