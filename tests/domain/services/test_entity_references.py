"""The generic create and update check each reference the caller gives (a many-to-one)
against the referred entity's policy: one count per referred entity, however many of
its references name it, and the first refused reference named in declaration order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from domain.errors import MissingReferenceError
from domain.events import DomainEvent
from domain.model import Attribute, EntityModel, EntityRegistry, FieldType, Policy
from domain.principals import Principal
from domain.services.entities import EntityService
from domain.specifications import Always, Specification, field
from tests.fakes import FakeEntityRepository, FakeUnitOfWorkFactory


@dataclass(eq=False, slots=True, kw_only=True)
class Thing:
    public: bool = True
    id: int = 0


@dataclass(eq=False, slots=True, kw_only=True)
class Pair:
    first_id: int
    second_id: int | None = None
    id: int = 0


def _public_things(principal: Principal) -> Specification:
    if principal.can("things:read_all"):
        return Always()
    return field("public") == True  # noqa: E712  # builds a specification


THING = EntityModel(
    name="Thing",
    plural="things",
    table="things",
    factory=Thing,
    attributes=(Attribute("public", FieldType.BOOL),),
    policy=Policy(read="things:read", write="things:write", visible=_public_things),
)
PAIR = EntityModel(
    name="Pair",
    plural="pairs",
    table="pairs",
    factory=Pair,
    attributes=(
        Attribute("first_id", FieldType.REF, target="Thing"),
        Attribute("second_id", FieldType.REF, target="Thing", nullable=True),
    ),
    policy=Policy(read="things:read", write="things:write"),
)
WRITER = Principal(1, frozenset(), frozenset({"things:read", "things:write"}))


class _Publisher:
    async def publish(self, events: Sequence[DomainEvent]) -> None:
        pass


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The entities counted, in order."""
    seen: list[str] = []
    count = FakeEntityRepository.count

    async def counting(self: FakeEntityRepository, spec: Specification) -> int:
        seen.append(type(next(iter(self._rows.values()), None)).__name__)
        return await count(self, spec)

    monkeypatch.setattr(FakeEntityRepository, "count", counting)
    return seen


def _service() -> tuple[EntityService, int, int]:
    """The pairs' service, a public thing and a private one."""
    uow = FakeUnitOfWorkFactory()
    public, private = Thing(id=uow.store.new_id()), Thing(public=False, id=uow.store.new_id())
    uow.store.entities["Thing"] = {public.id: public, private.id: private}
    service = EntityService(PAIR, uow, _Publisher())
    service.bind_references(EntityRegistry([THING, PAIR]))
    return service, public.id, private.id


async def test_references_to_one_entity_cost_one_count(counted: list[str]) -> None:
    service, public, _ = _service()
    made = await service.create(WRITER, {"first_id": public, "second_id": public})
    assert (made.first_id, made.second_id) == (public, public)
    assert counted == ["Thing"]
    counted.clear()
    await service.create(WRITER, {"first_id": public})  # a null reference is not read
    assert counted == ["Thing"]
    counted.clear()
    await service.update(WRITER, made.id, {})  # nor an absent one
    assert counted == []


async def test_the_first_hidden_or_missing_reference_is_named(counted: list[str]) -> None:
    service, public, private = _service()
    for values, named in (
        ({"first_id": public, "second_id": private}, "second_id"),
        ({"first_id": private, "second_id": public}, "first_id"),
        ({"first_id": 999, "second_id": private}, "first_id"),
        ({"first_id": private, "second_id": private}, "first_id"),
    ):
        with pytest.raises(MissingReferenceError) as refused:
            await service.create(WRITER, values)
        assert (refused.value.field, refused.value.target) == (named, "Thing"), values
    admin = Principal(1, frozenset(), WRITER.permissions | {"things:read_all"})
    made = await service.create(admin, {"first_id": public, "second_id": private})
    with pytest.raises(MissingReferenceError) as refused:
        await service.update(WRITER, made.id, {"second_id": private})  # unchanged, hidden
    assert refused.value.field == "second_id"


async def test_a_caller_who_reads_none_of_an_entity_is_refused_without_a_read(
    counted: list[str],
) -> None:
    service, public, _ = _service()
    blind = Principal(1, frozenset(), frozenset({"things:write"}))  # no `things:read`
    with pytest.raises(MissingReferenceError):
        await service.create(blind, {"first_id": public})
    assert counted == []
