"""GraphQL CRUD of a test-only declared entity, with its policy."""

from __future__ import annotations

from tests.entities.apps import Api
from tests.gateway.world import World, gid

CREATE = """
mutation($input: CreateVendorInput!) {
  createVendor(input: $input) { id name email active rating manager { name } }
}
"""


async def test_staff_create_read_update_and_delete_a_vendor(api: Api, world: World) -> None:
    created = await api.ask(
        CREATE,
        {
            "input": {
                "name": " Acme ",
                "email": "Sales@Acme.example",
                # Managed by another: staff do not read its email (a manager would).
                "managerId": gid("User", world.admin),
            }
        },
        user=world.staff,
    )
    vendor = created["data"]["createVendor"]
    assert vendor == {
        "id": gid("Vendor", 1),
        "name": "Acme",
        "email": None,
        "active": True,
        "rating": 0,
        "manager": {"name": "Ada Admin"},
    }
    as_admin = await api.ask(
        f'{{ vendor(id: "{vendor["id"]}") {{ name email }} }}', user=world.admin
    )
    assert as_admin == {"data": {"vendor": {"name": "Acme", "email": "sales@acme.example"}}}
    updated = await api.ask(
        "mutation($id: ID!) { updateVendor(id: $id, input: {rating: 4}) { name rating } }",
        {"id": vendor["id"]},
        user=world.staff,
    )
    assert updated == {"data": {"updateVendor": {"name": "Acme", "rating": 4}}}
    deleted = await api.ask(
        "mutation($id: ID!) { deleteVendor(id: $id) { deletedId } }",
        {"id": vendor["id"]},
        user=world.staff,
    )
    assert deleted == {"data": {"deleteVendor": {"deletedId": vendor["id"]}}}
    gone = await api.ask(f'{{ node(id: "{vendor["id"]}") {{ id }} }}', user=world.staff)
    assert gone == {"data": {"node": None}}
