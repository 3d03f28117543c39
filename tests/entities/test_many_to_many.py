"""A many-to-many written through its association entity's generic mutations."""

from __future__ import annotations

from typing import Any

from tests.entities.apps import Api
from tests.gateway.world import World, gid

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


async def _create(api: Api, user: int, query: str, values: dict[str, Any]) -> str:
    answer = await api.ask(query, {"input": values}, user=user)
    assert "errors" not in answer, answer
    created: str = next(iter(answer["data"].values()))["id"]
    return created


async def test_links_are_made_and_removed_through_the_association_entity(
    api: Api, world: World
) -> None:
    staff = world.staff
    vendor = await _create(
        api,
        staff,
        "mutation($input: CreateVendorInput!) { createVendor(input: $input) { id } }",
        {"name": "Acme", "email": "sales@acme.example"},
    )
    tag = "mutation($input: CreateVendorTagInput!) { createVendorTag(input: $input) { id } }"
    local = await _create(api, staff, tag, {"label": "local"})
    bulk = await _create(api, staff, tag, {"label": "bulk"})
    variables = {"vendor": vendor, "tag": local}
    refused = await api.ask(LINK, variables, user=world.alice)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    linked = await api.ask(LINK, variables, user=staff)
    assert linked["data"]["createVendorTagging"]["vendor"] == {"name": "Acme"}
    assert linked["data"]["createVendorTagging"]["tag"] == {"label": "local"}
    twice = await api.ask(LINK, variables, user=staff)
    await api.ask(LINK, {"vendor": vendor, "tag": bulk}, user=staff)

    def listed(*labels: str) -> dict[str, Any]:
        edges = [{"node": {"label": label, "vendors": {"totalCount": 1}}} for label in labels]
        return {"data": {"vendor": {"tags": {"totalCount": len(labels), "edges": edges}}}}

    # A link stored twice lists its tag once.
    assert await api.ask(TAGS, {"id": vendor}, user=staff) == listed("bulk", "local")
    # A linked row stays until its links are removed.
    kept = await api.ask(
        "mutation($id: ID!) { deleteVendorTag(id: $id) { deletedId } }", {"id": bulk}, user=staff
    )
    assert (kept["data"], kept["errors"][0]["extensions"]) == (None, {"code": "CONFLICT"})
    for made in (linked, twice):
        ident = made["data"]["createVendorTagging"]["id"]
        removed = await api.ask(UNLINK, {"id": ident}, user=staff)
        assert removed == {"data": {"deleteVendorTagging": {"deletedId": ident}}}
    assert await api.ask(TAGS, {"id": vendor}, user=staff) == listed("bulk")


async def test_a_link_is_neither_updated_nor_made_to_a_missing_row(api: Api, world: World) -> None:
    update = 'mutation { updateVendorTagging(id: "x", input: {}) { id } }'
    absent = await api.ask(update, user=world.staff)
    assert absent["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    dangling = {"vendor": gid("Vendor", 999), "tag": gid("VendorTag", 999)}
    refused = await api.ask(LINK, dangling, user=world.staff)
    # The foreign keys refuse it: the input is at fault, named as a malformed id is.
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert refused["errors"][0]["extensions"]["problems"] in (
        [{"field": "input.vendorId", "message": "refers to a Vendor that does not exist"}],
        [{"field": "input.tagId", "message": "refers to a VendorTag that does not exist"}],
    )
