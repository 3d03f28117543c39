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
from domain.model import EntityModel, EntityRegistry, Through
from domain.paging import Page, PageRequest
from domain.ports import EntityRepository, EventPublisher, UnitOfWork, UnitOfWorkFactory
from domain.principals import Principal
from domain.services.audit import AuditedService
from domain.specifications import Always, Specification, field


class EntityService(AuditedService):
    """Queries and commands over one declared entity."""

    # The models of the objects a many-to-many's association row links, by the
    # attribute naming each (`bind_links`); empty for every other entity.
    _linked: Mapping[str, EntityModel] = {}

    def __init__(
        self, model: EntityModel, uow: UnitOfWorkFactory, publisher: EventPublisher
    ) -> None:
        self.model = model
        self._uow, self._publisher = uow, publisher

    def bind_links(self, registry: EntityRegistry) -> None:
        """Learn which references of this entity are the links of a many-to-many (when it
        is the association of one): a link is made only between objects the caller sees."""
        names = sorted({name for pair in registry.links(self.model.name) for name in pair})
        linked: dict[str, EntityModel] = {}
        for name in names:
            target = self.model.attribute(name).target
            assert target is not None  # the registry's check: each is a reference
            linked[name] = registry[target]
        self._linked = linked

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
            await self._check_links(principal, uow, values)
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
            await self._check_links(principal, uow, changes)
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

    async def _check_links(
        self, principal: Principal, uow: UnitOfWork, values: Mapping[str, Any]
    ) -> None:
        """Raises MissingReferenceError for a link to an object the caller does not see
        (its entity's `read` permission and `visible` rule), as for one that does not
        exist: a link neither reaches nor reveals a hidden object."""
        for name, target in self._linked.items():
            key = values.get(name)
            if key is None:
                continue
            found = await uow.repository(target.name).get(key)
            if found is None or not _linkable(target, principal, found):
                raise MissingReferenceError(name, target.name)

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


def _linkable(model: EntityModel, principal: Principal, entity: object) -> bool:
    """Whether the policy of `model` lets the caller see `entity` (and so link it)."""
    read = model.policy.read
    if read is not None and not principal.can(read):
        return False
    try:
        rule = model.policy.visible(principal)
    except (UnauthenticatedError, ForbiddenError):
        return False  # a rule that lets the caller see nothing
    return isinstance(rule, Always) or rule.is_satisfied_by(entity)
