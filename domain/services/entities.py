"""The generic service of a declared entity: reads under its policy, CRUD with events.

Each command is a use case that a declaration may replace: subclass `EntityService`,
override `create`, `update` or `delete` (calling `super()` or not), and name the
subclass in the declaration (`entity(..., service=SupplierService)`). Events
(`EntityCreated`, `EntityUpdated`, `EntityDeleted`) are recorded in the unit of work, so
they are stored with the change (the outbox) and published after the commit, never for a
change that was rolled back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from domain.errors import (
    DuplicateError,
    ForbiddenError,
    MissingReferenceError,
    NotFoundError,
    UnauthenticatedError,
)
from domain.events import DomainEvent, EntityCreated, EntityDeleted, EntityUpdated
from domain.model import EntityModel, EntityRegistry, FieldType, Through
from domain.paging import Page, PageRequest
from domain.ports import EntityRepository, EventPublisher, UnitOfWork, UnitOfWorkFactory
from domain.principals import Principal
from domain.services.audit import AuditedService
from domain.specifications import Always, Specification, field


class EntityService(AuditedService):
    """Queries and commands over one declared entity."""

    # The references this service checks on a write: each REF attribute with the model
    # of the entity it refers to, in declaration order (`bind_references`); none until
    # bound, as for a service built outside a container.
    _references: tuple[tuple[str, EntityModel], ...] = ()

    def __init__(
        self, model: EntityModel, uow: UnitOfWorkFactory, publisher: EventPublisher
    ) -> None:
        self.model = model
        self._uow, self._publisher = uow, publisher

    def bind_references(self, registry: EntityRegistry) -> None:
        """Learn the models of the entities this one refers to (each REF attribute's
        target, the links of a many-to-many's association among them): a reference is
        written only to an object the caller sees (`_check_references`)."""
        references = []
        for attribute in self.model.attributes:
            # A target outside the registry has no policy here: its foreign key decides.
            if attribute.type is FieldType.REF and attribute.target in registry:
                assert attribute.target is not None
                references.append((attribute.name, registry[attribute.target]))
        self._references = tuple(references)

    # --- the policy ---------------------------------------------------------------

    def may_read(self, principal: Principal) -> bool:
        read = self.model.policy.read
        return read is None or principal.can(read)

    def visible(self, principal: Principal) -> Specification:
        """The objects the caller may see; raises UnauthenticatedError or ForbiddenError
        when the policy lets them see none (the connection refuses, as `users` does)."""
        read = self.model.policy.read
        if read is not None:
            principal.require(read)
        return self.model.policy.visible(principal)

    def _repository(self, uow: UnitOfWork) -> EntityRepository:
        return uow.repository(self.model.name)

    # --- queries ------------------------------------------------------------------

    async def get_many(self, principal: Principal, ids: Sequence[int]) -> Mapping[int, Any]:
        """The entities among `ids` the caller may see; unknown or hidden ids are absent."""
        if not self.may_read(principal):
            return {}
        try:
            rule = self.model.policy.visible(principal)
        except (UnauthenticatedError, ForbiddenError):
            return {}  # a rule that lets the caller see nothing: every id reads as null
        async with self._uow(read_only=True) as uow:
            found = await self._repository(uow).get_many(ids)
        return {key: entity for key, entity in found.items() if rule.is_satisfied_by(entity)}

    async def page(
        self, principal: Principal, spec: Specification, request: PageRequest
    ) -> Page[Any]:
        rule = self.visible(principal)
        async with self._uow(read_only=True) as uow:
            return await self._repository(uow).page(spec & rule, request)

    async def count(self, principal: Principal, spec: Specification) -> int:
        rule = self.visible(principal)
        async with self._uow(read_only=True) as uow:
            return await self._repository(uow).count(spec & rule)

    async def page_per(
        self,
        principal: Principal,
        key: str,
        owners: Sequence[int],
        spec: Specification,
        request: PageRequest,
    ) -> Mapping[int, Page[Any]]:
        """A page per owner of the related entities the caller may see (one statement)."""
        if not self.may_read(principal):
            return {owner: Page((), (), False, request.after is not None) for owner in owners}
        rule = self.model.policy.visible(principal)
        async with self._uow(read_only=True) as uow:
            return await self._repository(uow).page_per(key, owners, spec & rule, request)

    async def count_per(
        self, principal: Principal, key: str, owners: Sequence[int], spec: Specification
    ) -> Mapping[int, int]:
        if not self.may_read(principal):
            return dict.fromkeys(owners, 0)
        rule = self.model.policy.visible(principal)
        async with self._uow(read_only=True) as uow:
            return await self._repository(uow).count_per(key, owners, spec & rule)

    async def rows_per(
        self, principal: Principal, key: str, owners: Sequence[int]
    ) -> Mapping[int, Sequence[Any]]:
        """Every related entity the caller may see, per owner, by id (one statement)."""
        if not self.may_read(principal):
            return dict.fromkeys(owners, ())
        rule = self.model.policy.visible(principal)
        async with self._uow(read_only=True) as uow:
            return await self._repository(uow).rows_per(key, owners, rule)

    async def page_through(
        self,
        principal: Principal,
        through: Through,
        owners: Sequence[int],
        spec: Specification,
        request: PageRequest,
    ) -> Mapping[int, Page[Any]]:
        """A page per owner of the entities the caller may see that its association
        rows link it to (a many-to-many; one statement)."""
        if not self.may_read(principal):
            return {owner: Page((), (), False, request.after is not None) for owner in owners}
        rule = self.model.policy.visible(principal)
        async with self._uow(read_only=True) as uow:
            return await self._repository(uow).page_through(through, owners, spec & rule, request)

    async def count_through(
        self, principal: Principal, through: Through, owners: Sequence[int], spec: Specification
    ) -> Mapping[int, int]:
        if not self.may_read(principal):
            return dict.fromkeys(owners, 0)
        rule = self.model.policy.visible(principal)
        async with self._uow(read_only=True) as uow:
            return await self._repository(uow).count_through(through, owners, spec & rule)

    # --- commands (use cases a declaration may replace) -------------------------------

    async def create(self, principal: Principal, values: Mapping[str, Any]) -> Any:
        """Create from `values`; raises ForbiddenError, ValidationError (the entity's own
        invariants) or DuplicateError (a unique attribute)."""
        principal.require(self.model.policy.write)
        entity = self.model.factory(**values)
        async with self._uow() as uow:
            repository = self._repository(uow)
            await self._check_references(principal, uow, values)
            await self._check_unique(repository, entity)
            await repository.add(entity)
            uow.record(EntityCreated(entity=self.model.name, key=entity.id))
            await uow.commit()
            events = uow.collect_events()
        await self._publish(events)
        return entity

    async def update(self, principal: Principal, key: int, changes: Mapping[str, Any]) -> Any:
        """Apply a partial update (the invariants run again); raises NotFoundError."""
        principal.require(self.model.policy.write)
        async with self._uow() as uow:
            repository = self._repository(uow)
            current = await self._writable(principal, repository, key)
            entity = dataclasses.replace(current, **changes)
            await self._check_references(principal, uow, changes)
            await self._check_unique(repository, entity, changed=changes)
            await repository.save(entity)
            uow.record(EntityUpdated(entity=self.model.name, key=key))
            await uow.commit()
            events = uow.collect_events()
        await self._publish(events)
        return entity

    async def delete(self, principal: Principal, key: int) -> Any:
        """Delete; raises NotFoundError, or ConflictError while others refer to it."""
        principal.require(self.model.policy.delete_permission)
        async with self._uow() as uow:
            repository = self._repository(uow)
            entity = await self._writable(principal, repository, key)
            await repository.delete(entity)
            uow.record(EntityDeleted(entity=self.model.name, key=key))
            await uow.commit()
            events = uow.collect_events()
        await self._publish(events)
        return entity

    # --- helpers ------------------------------------------------------------------------

    async def _writable(self, principal: Principal, repository: EntityRepository, key: int) -> Any:
        found = await repository.get(key, for_update=True)
        if found is None or not self._sees(principal, found):
            raise NotFoundError(self.model.name, key)
        return found

    def _sees(self, principal: Principal, entity: object) -> bool:
        if not self.may_read(principal):
            return False
        rule = self.model.policy.visible(principal)
        return isinstance(rule, Always) or rule.is_satisfied_by(entity)

    async def _check_references(
        self, principal: Principal, uow: UnitOfWork, values: Mapping[str, Any]
    ) -> None:
        """Raises MissingReferenceError for a reference in `values` (a many-to-one, or a
        link of a many-to-many's association) to an object the caller does not see (its
        entity's `read` permission and `visible` rule), as for one that does not exist:
        a write neither reaches nor reveals a hidden object.

        Every reference given is checked, an unchanged one too (accepting it would tell
        the caller which hidden object is referred to); a null or absent one costs no
        read, the others one statement per referenced entity. What this guarantees: the
        object existed and was visible to the caller when read here, in the writing
        transaction. Existence is still the foreign key's to decide, at the write: an
        object deleted meanwhile fails the write as one that never existed, the same
        answer (MissingReferenceError, from the database). An object hidden meanwhile
        (its row changed by a transaction committing between this read and the write) is
        referred to: the outcome of the same writes in the other order, the reference
        made just before the object was hidden, which hiding never undoes.
        """
        given = [(n, t, values[n]) for n, t in self._references if values.get(n) is not None]
        by_target: dict[str, tuple[EntityModel, set[int]]] = {}
        for _attribute, target, key in given:
            by_target.setdefault(target.name, (target, set()))[1].add(key)
        hidden: set[tuple[str, int]] = set()  # (target, key) missing or not visible
        for name, (target, keys) in by_target.items():
            rule = _visible_to(target, principal)
            if rule is None:  # the caller sees none of them: nothing to read
                hidden.update((name, key) for key in keys)
                continue
            repository = uow.repository(name)
            # One statement: how many of them exist and are visible to the caller (the
            # target's rule, in SQL, as its lists apply it).
            if await repository.count(field("id").is_in(sorted(keys)) & rule) == len(keys):
                continue
            if len(keys) == 1:
                hidden.update((name, key) for key in keys)
                continue
            # Several keys of one entity, some refused: which (a statement each, only
            # for a write that is refused anyway).
            for key in sorted(keys):
                if not await repository.count((field("id") == key) & rule):
                    hidden.add((name, key))
        for attribute, target, key in given:  # the first refused, in declaration order
            if (target.name, key) in hidden:
                raise MissingReferenceError(attribute, target.name)

    async def _check_unique(
        self,
        repository: EntityRepository,
        entity: Any,
        changed: Mapping[str, Any] | None = None,
    ) -> None:
        for attribute in self.model.attributes:
            if not attribute.unique or (changed is not None and attribute.name not in changed):
                continue
            value = getattr(entity, attribute.name)
            clash = field(attribute.name) == value
            if entity.id:
                clash = clash & (field("id") != entity.id)
            if await repository.count(clash):
                raise DuplicateError(self.model.name.lower(), attribute.name, str(value))

    async def _publish(self, events: Sequence[DomainEvent]) -> None:
        await self._publisher.publish(events)


def _visible_to(model: EntityModel, principal: Principal) -> Specification | None:
    """The objects of `model` its policy lets the caller see, or None for none at all."""
    read = model.policy.read
    if read is not None and not principal.can(read):
        return None
    try:
        return model.policy.visible(principal)
    except (UnauthenticatedError, ForbiddenError):
        return None  # a rule that lets the caller see nothing
