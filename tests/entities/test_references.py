"""A reference written through the generic create and update (a many-to-one input, as a
contact's `vendorId` or a vendor's `managerId`) reaches only an object the caller sees,
on SQLite and Postgres: one hidden from them is answered exactly as one that does not
exist, on GraphQL and REST, and requests racing a hide or a delete of the referred
object never store a reference to a row that does not exist."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from domain.errors import MissingReferenceError
from domain.principals import Principal
from domain.services.entities import EntityService
from gateway.container import Container
from gateway.settings import Settings
from persistence.statements import count_statements
from schema.node import decode_id
from tests.entities.apps import Api, created_id, settings_per_backend
from tests.entities.vendors import CONTACTS, VENDORS
from tests.gateway.world import World, as_user, gid

VENDOR = "mutation($input: CreateVendorInput!) { createVendor(input: $input) { id } }"
TAG = "mutation($input: CreateVendorTagInput!) { createVendorTag(input: $input) { id } }"
CONTACT = """mutation($vendor: ID!) {
  createVendorContact(input: {vendorId: $vendor, name: "Pat", rate: {amount: "10"}}) {
    id vendor { name } } }"""
MOVE = """mutation($id: ID!, $vendor: ID!) {
  updateVendorContact(id: $id, input: {vendorId: $vendor}) { id vendor { name } } }"""
HIDE = """mutation($id: ID!) {
  updateVendor(id: $id, input: {active: false}) { active } }"""
DELETE = "mutation($id: ID!) { deleteVendor(id: $id) { deletedId } }"
MISSING = gid("Vendor", 999_999)
NOT_THERE = {
    "code": "BAD_USER_INPUT",
    "problems": [{"field": "input.vendorId", "message": "refers to a Vendor that does not exist"}],
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """The entity tests' gateway over each backend (a fresh database per test)."""
    yield from settings_per_backend(request, tmp_path, "refs")


async def _vendors(api: Api, world: World, suffix: str = "") -> tuple[str, str]:
    """An active vendor and an inactive one (hidden from staff), created by an admin."""
    values = {"name": f"Acme{suffix}", "email": "sales@acme.example"}
    active = await created_id(api, world.admin, VENDOR, values)
    inactive = await created_id(
        api, world.admin, VENDOR, {**values, "name": f"Old{suffix}", "active": False}
    )
    return active, inactive


async def _stored_contacts(container: Container) -> list[tuple[int, bool | None]]:
    """Each stored contact's vendor id, and whether that vendor is active (None: no such
    vendor; the foreign key never lets that be)."""
    joined = CONTACTS.outerjoin(VENDORS, CONTACTS.c.vendor_id == VENDORS.c.id)
    async with container.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(CONTACTS.c.vendor_id, VENDORS.c.active).select_from(joined)
        )
        return [(row.vendor_id, row.active) for row in rows]


def _problem(response: httpx.Response) -> dict[str, Any]:
    """A problem+json body without its request's id."""
    return {k: v for k, v in response.json().items() if k != "requestId"}


def _refused(answer: dict[str, Any]) -> None:
    assert answer["data"] is None, answer
    assert [e["extensions"] for e in answer["errors"]] == [NOT_THERE], answer


def _staff_writer(world: World) -> Principal:
    """A principal who writes vendors but reads no user but themselves (no `users:read`)."""
    return Principal(world.staff, frozenset(), frozenset({"vendors:read", "vendors:write"}))


async def test_a_reference_to_a_hidden_object_is_answered_as_one_to_a_missing_one(
    api: Api, world: World, client: httpx.AsyncClient, container: Container
) -> None:
    active, inactive = await _vendors(api, world)
    hidden = await api.ask(CONTACT, {"vendor": inactive}, user=world.staff)
    missing = await api.ask(CONTACT, {"vendor": MISSING}, user=world.staff)
    _refused(missing)
    assert hidden == missing
    # REST answers through the same mapping: the same 422 problem for both.
    answers = [
        await client.post(
            "/api/v1/vendor-contacts",
            json={"vendorId": vendor, "name": "Pat", "rate": {"amount": "10"}},
            headers=as_user(world.staff),
        )
        for vendor in (inactive, MISSING)
    ]
    assert [a.status_code for a in answers] == [422, 422], [a.text for a in answers]
    assert _problem(answers[0]) == _problem(answers[1])
    assert (answers[0].json()["code"], answers[0].json()["problems"]) == (
        NOT_THERE["code"],
        NOT_THERE["problems"],
    )
    assert await _stored_contacts(container) == []
    # A vendor the caller sees is referred to; an admin sees the inactive one too.
    made = await api.ask(CONTACT, {"vendor": active}, user=world.staff)
    assert made["data"]["createVendorContact"]["vendor"] == {"name": "Acme"}, made
    made = await api.ask(CONTACT, {"vendor": inactive}, user=world.admin)
    assert made["data"]["createVendorContact"]["vendor"] == {"name": "Old"}, made
    assert sorted(bool(on) for _, on in await _stored_contacts(container)) == [False, True]


async def test_an_update_to_a_hidden_object_is_answered_as_one_to_a_missing_one(
    api: Api, world: World, client: httpx.AsyncClient, container: Container
) -> None:
    active, inactive = await _vendors(api, world)
    other = await created_id(
        api, world.admin, VENDOR, {"name": "Beta", "email": "sales@beta.example"}
    )
    made = await api.ask(CONTACT, {"vendor": active}, user=world.staff)
    contact = made["data"]["createVendorContact"]["id"]
    hidden = await api.ask(MOVE, {"id": contact, "vendor": inactive}, user=world.staff)
    missing = await api.ask(MOVE, {"id": contact, "vendor": MISSING}, user=world.staff)
    _refused(missing)
    assert hidden == missing
    answers = [
        await client.patch(
            f"/api/v1/vendor-contacts/{contact}",
            json={"vendorId": vendor},
            headers=as_user(world.staff),
        )
        for vendor in (inactive, MISSING)
    ]
    assert [a.status_code for a in answers] == [422, 422], [a.text for a in answers]
    assert _problem(answers[0]) == _problem(answers[1])
    assert [active for _, active in await _stored_contacts(container)] == [True]
    moved = await api.ask(MOVE, {"id": contact, "vendor": other}, user=world.staff)
    assert moved["data"]["updateVendorContact"]["vendor"] == {"name": "Beta"}, moved
    # Sent again unchanged, a reference is checked again: once its vendor is hidden from
    # the caller, naming it is refused (accepting it would confirm which one it is).
    await api.ask(HIDE, {"id": other}, user=world.admin)
    again = await api.ask(MOVE, {"id": contact, "vendor": other}, user=world.staff)
    _refused(again)
    # Leaving the reference out changes the rest (nothing is read for it).
    renamed = await api.ask(
        'mutation($id: ID!) { updateVendorContact(id: $id, input: {name: "Sam"}) { name } }',
        {"id": contact},
        user=world.staff,
    )
    assert renamed == {"data": {"updateVendorContact": {"name": "Sam"}}}


async def test_a_hidden_user_as_manager_is_answered_as_a_missing_one(
    container: Container, world: World
) -> None:
    # The vendor's `manager` is a User: without `users:read` a caller sees only
    # themselves, so another user is hidden from them, as one that does not exist.
    vendors = container.services.entities["Vendor"]
    writer = _staff_writer(world)
    values = {"name": "Acme", "email": "sales@acme.example"}
    refused = []
    for manager in (world.alice, 999_999):
        with pytest.raises(MissingReferenceError) as raised:
            await vendors.create(writer, {**values, "manager_id": manager})
        refused.append((raised.value.field, raised.value.target, str(raised.value)))
    message = "manager_id: refers to a User that does not exist"
    assert refused == [("manager_id", "User", message)] * 2
    made = await vendors.create(writer, {**values, "manager_id": world.staff})
    assert made.manager_id == world.staff
    with pytest.raises(MissingReferenceError):
        await vendors.update(writer, made.id, {"manager_id": world.alice})
    # With `users:read` (as staff) every user is seen.
    staff = Principal(world.staff, frozenset(), writer.permissions | {"users:read"})
    moved = await vendors.update(staff, made.id, {"manager_id": world.alice})
    assert moved.manager_id == world.alice


async def test_a_reference_costs_one_read_of_its_entity_and_a_null_one_none(
    api: Api, container: Container, world: World
) -> None:
    vendors = container.services.entities["Vendor"]
    writer = _staff_writer(world)

    def reads_of(table: str, statements: list[str]) -> int:
        return sum(
            1
            for s in statements
            if s.lstrip().upper().startswith("SELECT") and f"FROM {table}" in " ".join(s.split())
        )

    with count_statements(container.engine) as log:
        await vendors.create(writer, {"name": "Acme", "email": "a@acme.example"})
    assert reads_of("users", log.statements) == 0, log.statements
    with count_statements(container.engine) as log:
        await vendors.create(
            writer, {"name": "Beta", "email": "b@beta.example", "manager_id": world.staff}
        )
    assert reads_of("users", log.statements) == 1, log.statements
    # A link's two objects, of two entities: one statement each.
    vendor = await created_id(api, world.staff, VENDOR, {"name": "Gamma", "email": "g@g.example"})
    tag = await created_id(api, world.staff, TAG, {"label": "local"})
    with count_statements(container.engine) as log:
        linked = await api.ask(
            """mutation($vendor: ID!, $tag: ID!) {
              createVendorTagging(input: {vendorId: $vendor, tagId: $tag}) { id } }""",
            {"vendor": vendor, "tag": tag},
            user=world.staff,
        )
    assert "errors" not in linked, linked
    written = [s for s in log.statements if "INSERT INTO test_vendor_taggings" in s]
    before = log.statements[: log.statements.index(written[0])]
    assert (reads_of("test_vendors", before), reads_of("test_vendor_tags", before)) == (1, 1)


def _paused_after_the_check(monkeypatch: pytest.MonkeyPatch) -> tuple[asyncio.Event, asyncio.Event]:
    """Holds a contact's write between its reference check and its write: `checked` is
    set when one gets there, and it goes on once `go` is set."""
    checked, go = asyncio.Event(), asyncio.Event()
    check = EntityService._check_references

    async def paused(self: EntityService, *args: Any) -> None:
        await check(self, *args)
        if self.model.name == "VendorContact":
            checked.set()
            await go.wait()

    monkeypatch.setattr(EntityService, "_check_references", paused)
    return checked, go


@pytest.mark.parametrize("change", ["hide", "delete"])
async def test_a_vendor_hidden_or_deleted_between_the_check_and_the_write(
    api: Api,
    world: World,
    container: Container,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    active, _ = await _vendors(api, world)
    checked, go = _paused_after_the_check(monkeypatch)
    writing = asyncio.create_task(api.ask(CONTACT, {"vendor": active}, user=world.staff))
    await asyncio.wait_for(checked.wait(), 10)
    changing = asyncio.create_task(
        api.ask(HIDE if change == "hide" else DELETE, {"id": active}, user=world.admin)
    )
    sqlite = settings.database.url.startswith("sqlite")
    # SQLite runs one write transaction at a time (the contact's holds the lock from its
    # check to its commit): the change waits for it. Postgres lets the change commit
    # inside that window: the check's read locks nothing.
    done, _ = await asyncio.wait({changing}, timeout=0.3 if sqlite else 10)
    assert (changing in done) is not sqlite
    go.set()
    written, changed = await asyncio.wait_for(writing, 10), await asyncio.wait_for(changing, 10)
    stored = await _stored_contacts(container)
    if change == "hide":
        # Either way the contact refers to a vendor that is now inactive: as if the
        # contact was written first, and a hide never undoes a reference.
        assert "errors" not in written, written
        assert "errors" not in changed, changed
        assert stored == [(stored[0][0], False)]
    elif sqlite:
        # The contact was written first: the vendor is still referred to, not deleted.
        assert "errors" not in written, written
        assert changed["errors"][0]["extensions"]["code"] == "CONFLICT", changed
        assert stored == [(stored[0][0], True)]
    else:
        # The vendor went first: the foreign key refuses the write, answered as a
        # reference to a missing object (the same answer as the check gives).
        _refused(written)
        assert "errors" not in changed, changed
        assert stored == []
    if stored and stored[0][1]:
        return  # the vendor stays, kept from deletion by its contact
    # From now on the vendor is hidden from staff (or gone): a reference is refused.
    _refused(await api.ask(CONTACT, {"vendor": active}, user=world.staff))


@pytest.mark.parametrize("change", ["hide", "delete"])
async def test_writes_racing_a_hide_or_delete_of_their_target_leave_a_consistent_state(
    api: Api, world: World, container: Container, change: str
) -> None:
    racing = 8
    # The change sent before the writes, amid them and after them, each over a vendor
    # of its own: which go first is the databases' to decide.
    for position in (0, racing // 2, racing):
        vendor, _ = await _vendors(api, world, suffix=f" {position}")
        key = decode_id(vendor, "Vendor")
        writes = [api.ask(CONTACT, {"vendor": vendor}, user=world.staff) for _ in range(racing)]
        writes.insert(
            position,
            api.ask(HIDE if change == "hide" else DELETE, {"id": vendor}, user=world.admin),
        )
        answers = await asyncio.wait_for(asyncio.gather(*writes), 60)
        changed, written = answers.pop(position), answers
        made = [w for w in written if "errors" not in w]
        for refused in (w for w in written if "errors" in w):
            _refused(refused)  # every refusal is the missing-reference answer
        stored = [s for s in await _stored_contacts(container) if s[0] == key]
        # Allowed: the writes that went first refer to the vendor (hidden since, or kept
        # from deletion by them); each one after is refused. Never a reference to no
        # vendor: the foreign key decides that, whatever the check read.
        assert len(stored) == len(made), (stored, written)
        assert all(is_active is not None for _, is_active in stored), stored
        if change == "delete" and "errors" in changed:
            assert changed["errors"][0]["extensions"]["code"] == "CONFLICT", changed
            assert made, written
        elif change == "delete":
            assert stored == [], stored
        else:
            assert "errors" not in changed, changed
            assert all(is_active is False for _, is_active in stored), stored
        if change == "hide" or "errors" not in changed:
            _refused(await api.ask(CONTACT, {"vendor": vendor}, user=world.staff))
