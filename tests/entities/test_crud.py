"""GraphQL CRUD of a test-only declared entity, with its policy."""

from __future__ import annotations

from tests.entities.conftest import Api
from tests.gateway.world import World, gid

CREATE = """
mutation($input: CreateSupplierInput!) {
  createSupplier(input: $input) { id name email active rating manager { name } }
}
"""


async def test_staff_create_read_update_and_delete_a_supplier(api: Api, world: World) -> None:
    created = await api.ask(
        CREATE,
        {
            "input": {
                "name": " Acme ",
                "email": "Sales@Acme.example",
                "managerId": gid("User", world.staff),
            }
        },
        user=world.staff,
    )
    supplier = created["data"]["createSupplier"]
    assert supplier == {
        "id": gid("Supplier", 1),
        "name": "Acme",
        "email": None,
        "active": True,
        "rating": 0,
        "manager": {"name": "Sam Staff"},
    }
    as_admin = await api.ask(
        f'{{ supplier(id: "{supplier["id"]}") {{ name email }} }}', user=world.admin
    )
    assert as_admin == {"data": {"supplier": {"name": "Acme", "email": "sales@acme.example"}}}
    updated = await api.ask(
        "mutation($id: ID!) { updateSupplier(id: $id, input: {rating: 4}) { name rating } }",
        {"id": supplier["id"]},
        user=world.staff,
    )
    assert updated == {"data": {"updateSupplier": {"name": "Acme", "rating": 4}}}
    deleted = await api.ask(
        "mutation($id: ID!) { deleteSupplier(id: $id) { deletedId } }",
        {"id": supplier["id"]},
        user=world.staff,
    )
    assert deleted == {"data": {"deleteSupplier": {"deletedId": supplier["id"]}}}
    gone = await api.ask(f'{{ node(id: "{supplier["id"]}") {{ id }} }}', user=world.staff)
    assert gone == {"data": {"node": None}}
