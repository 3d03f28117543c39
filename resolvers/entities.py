"""Resolvers of declared entities: read arguments, call the entity's service or loader.

The schema derives one GraphQL field per declared root, mutation and relationship and
calls these with the entity's name; nothing here is written per entity.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Any

from domain.events import EntityChanged
from domain.model import Through
from domain.paging import Page, PageRequest
from domain.specifications import Specification
from resolvers.context import Context
from resolvers.subscriptions import Delivered, _deliver, _open


async def one(context: Context, entity: str, key: int) -> Any | None:
    return await context.loaders.entity(entity).load(key)


async def page(
    context: Context, entity: str, spec: Specification, request: PageRequest
) -> Page[Any]:
    return await context.services.entities[entity].page(context.principal, spec, request)


async def count(context: Context, entity: str, spec: Specification) -> int:
    return await context.services.entities[entity].count(context.principal, spec)


async def children(
    context: Context, entity: str, key: str, owner: int, spec: Specification, request: PageRequest
) -> Page[Any]:
    """The page of `entity` rows whose `key` is `owner` (batched across owners)."""
    return await context.loaders.children(entity, key).load((owner, spec, request))


async def count_children(
    context: Context, entity: str, key: str, owner: int, spec: Specification
) -> int:
    return await context.loaders.child_counts(entity, key).load((owner, spec))


async def linked(
    context: Context,
    entity: str,
    through: Through,
    owner: int,
    spec: Specification,
    request: PageRequest,
) -> Page[Any]:
    """The page of `entity` rows the association rows `through` link to `owner`
    (batched across owners)."""
    return await context.loaders.linked(entity, through).load((owner, spec, request))


async def count_linked(
    context: Context, entity: str, through: Through, owner: int, spec: Specification
) -> int:
    return await context.loaders.linked_counts(entity, through).load((owner, spec))


async def all_children(context: Context, entity: str, key: str, owner: int) -> list[Any]:
    """Every `entity` row the caller sees whose `key` is `owner`, by id (batched)."""
    return await context.loaders.rows(entity, key).load(owner)


async def create(context: Context, entity: str, values: Mapping[str, Any]) -> Any:
    return await context.services.entities[entity].create(context.principal, values)


async def update(context: Context, entity: str, key: int, changes: Mapping[str, Any]) -> Any:
    updated = await context.services.entities[entity].update(context.principal, key, changes)
    context.loaders.entity(entity).clear(key)
    return updated


async def delete(context: Context, entity: str, key: int) -> Any:
    deleted = await context.services.entities[entity].delete(context.principal, key)
    context.loaders.entity(entity).clear(key)
    return deleted


async def changes(
    context: Context, entity: str, event_type: type[EntityChanged], after: str | None = None
) -> AsyncGenerator[Delivered[EntityChanged, Any], None]:
    """Events of one kind about `entity`, each with the entity as the subscriber sees it
    (a deletion with the event's key only); raises UnauthenticatedError or ForbiddenError
    when the policy refuses the subscription, ValidationError or ResumeExpiredError for
    an `after` it cannot resume from."""
    service = context.services.entities[entity]
    permission = service.model.policy.subscribe or service.model.policy.read
    if permission is not None:
        context.principal.require(permission)
    realtime, stream = await _open(context, event_type, after)

    async def resolve(event: EntityChanged) -> Any | None:
        if event.entity != entity:
            return None
        if permission is not None and not context.principal.can(permission):
            return None
        if event.name.endswith("Deleted"):
            return event
        return await context.loaders.entity(entity).load(event.key)

    return _deliver(context, realtime, stream, event_type, resolve)
