"""A declared entity is audited with no code of its own: create, update and delete."""

from __future__ import annotations

from typing import Any

from tests.entities.apps import Api
from tests.gateway.world import World, gid

AUDIT = """query($id: ID!) { auditLog(filter: {entityId: $id}) {
  edges { node { action entityType actorId changes { field before after } } } } }"""


async def test_a_declared_entity_s_changes_are_audited_with_their_fields(
    api: Api, world: World
) -> None:
    created = await api.ask(
        "mutation($input: CreateVendorInput!) { createVendor(input: $input) { id } }",
        {"input": {"name": "Acme", "email": "Sales@Acme.example"}},
        user=world.staff,
    )
    vendor = created["data"]["createVendor"]["id"]
    await api.ask(
        "mutation($id: ID!) { updateVendor(id: $id, input: {rating: 4}) { rating } }",
        {"id": vendor},
        user=world.staff,
    )
    await api.ask(
        "mutation($id: ID!) { deleteVendor(id: $id) { deletedId } }",
        {"id": vendor},
        user=world.staff,
    )

    body = await api.ask(AUDIT, {"id": vendor}, user=world.admin)
    entries: list[dict[str, Any]] = [edge["node"] for edge in body["data"]["auditLog"]["edges"]]
    staff = gid("User", world.staff)
    created_at = next(c for c in entries[2]["changes"] if c["field"] == "created_at")["after"]
    stored = {
        "active": True,
        "created_at": created_at,
        "email": "s***@acme.example",
        "manager_id": None,
        "name": "Acme",
        "tier": "standard",  # an enum attribute is recorded as its stored value
    }

    def fields(values: dict[str, Any], side: str) -> list[dict[str, Any]]:
        other = "after" if side == "before" else "before"
        return [{"field": k, side: v, other: None} for k, v in sorted(values.items())]

    assert [(e["action"], e["entityType"], e["actorId"]) for e in entries] == [
        ("DELETE", "Vendor", staff),
        ("UPDATE", "Vendor", staff),
        ("CREATE", "Vendor", staff),
    ]
    assert entries[1]["changes"] == [{"field": "rating", "before": 0, "after": 4}]
    assert entries[2]["changes"] == fields({**stored, "rating": 0}, "after")
    assert entries[0]["changes"] == fields({**stored, "rating": 4}, "before")
