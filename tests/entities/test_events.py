"""`<Entity>Created/Updated/Deleted` are published after the commit, never on rollback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from domain.errors import ConflictError, ValidationError
from domain.events import DomainEvent, EntityChanged
from domain.principals import Principal
from domain.users import Email
from schema.entities import Declaration
from tests.entities.samples import create_values
from tests.entities.vendors import DECLARATIONS
from tests.fakes import FakeUnitOfWorkFactory

SUPPLIER = DECLARATIONS[0]


class Recorder:
    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        self.events.extend(events)


def _names(recorder: Recorder) -> list[tuple[str, int]]:
    return [(e.name, e.key) for e in recorder.events if isinstance(e, EntityChanged)]


async def test_each_command_publishes_its_event_after_the_commit() -> None:
    uow, recorder = FakeUnitOfWorkFactory(), Recorder()
    service = SUPPLIER.new_service(uow, recorder)
    system = Principal.system()
    created = await service.create(system, {"name": "Acme", "email": Email("a@acme.example")})
    await service.update(system, created.id, {"rating": 3})
    await service.delete(system, created.id)
    assert _names(recorder) == [
        ("VendorCreated", created.id),
        ("VendorUpdated", created.id),
        ("VendorDeleted", created.id),
    ]
    assert uow.store.entities == {"Vendor": {}}


async def test_nothing_is_published_when_the_commit_fails() -> None:
    uow, recorder = FakeUnitOfWorkFactory(), Recorder()
    service = SUPPLIER.new_service(uow, recorder)
    system = Principal.system()
    uow.fail_next_commit()
    with pytest.raises(ConflictError):
        await service.create(system, {"name": "Acme", "email": Email("a@acme.example")})
    created = await service.create(system, {"name": "Acme", "email": Email("a@acme.example")})
    uow.fail_next_commit()
    with pytest.raises(ConflictError):
        await service.update(system, created.id, {"rating": 5})
    uow.fail_next_commit()
    with pytest.raises(ConflictError):
        await service.delete(system, created.id)
    assert _names(recorder) == [("VendorCreated", created.id)]
    stored: Any = uow.store.entities["Vendor"][created.id]
    assert stored.rating == 0


async def test_an_invariant_refusal_writes_and_publishes_nothing() -> None:
    uow, recorder = FakeUnitOfWorkFactory(), Recorder()
    service = SUPPLIER.new_service(uow, recorder)
    created = await service.create(
        Principal.system(), {"name": "Acme", "email": Email("a@acme.example")}
    )
    with pytest.raises(ValidationError, match="rating: must be between 0 and 5"):
        await service.update(Principal.system(), created.id, {"rating": 9})
    assert _names(recorder) == [("VendorCreated", created.id)]


@pytest.mark.parametrize("declaration", DECLARATIONS, ids=lambda d: d.name)
async def test_every_test_only_entity_publishes_after_the_commit_only(
    declaration: Declaration,
) -> None:
    uow, recorder = FakeUnitOfWorkFactory(), Recorder()
    service = declaration.new_service(uow, recorder)
    system, entity = Principal.system(), declaration.name
    # The fakes keep no foreign keys: any id will do as a reference.
    refs = {name: [7] for name in ("User", "Vendor", "VendorTag")}
    values = create_values(declaration.model, 1, refs)
    uow.fail_next_commit()
    with pytest.raises(ConflictError):
        await service.create(system, values)
    created = await service.create(system, values)
    uow.fail_next_commit()
    with pytest.raises(ConflictError):
        await service.delete(system, created.id)
    await service.delete(system, created.id)
    assert _names(recorder) == [(f"{entity}Created", created.id), (f"{entity}Deleted", created.id)]
