"""The schema as an Apollo Federation v2 subgraph (`GRAPHQL__FEDERATION`, off by default).

Every type implementing `Node` (the demo's and every declared entity) is an entity with
`@key(fields: "id")`, its global id. `_service { sdl }` answers the subgraph SDL (the
schema with its keys and the `@link` to the federation spec); `_entities` resolves
representations through the request's dataloaders, so the objects of one type cost one
statement however many are asked for, and each is seen as the caller may see it (a
hidden or missing object is null, as for `node`).

The keys exist only in the federated schema: the types are shared with the default
schema, whose committed SDL (`schema/schema.graphql`) must not change, so the `@key`
directives are attached to their definitions only while the federated schema is built
and its SDL printed (both happen once, at start-up, in one thread).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any, cast

import strawberry
from strawberry.federation import Schema as FederationSchema
from strawberry.federation.schema import FederationAny
from strawberry.federation.schema_directives import Key
from strawberry.federation.types import FieldSet
from strawberry.printer import print_schema
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField

from domain.errors import ValidationError
from resolvers import entities as entity_resolvers
from resolvers.context import Context
from schema.node import Node, decode_id

type Info = strawberry.Info[Context, None]
type Reference = Callable[[Context, int], Awaitable[object | None]]


@strawberry.type(name="_Service")
class FederationService:
    sdl: str


def _service(info: strawberry.Info) -> FederationService:
    schema = info.schema
    assert isinstance(schema, FederatedSchema)  # the field exists only there
    return FederationService(sdl=schema.subgraph_sdl)


def service_field() -> StrawberryField:
    """`_service`, answered with the SDL printed when the keys were attached (Strawberry's
    own would print the schema again, after the keys are gone)."""
    # A resolver's overload types the call as the resolver's return type.
    return cast("StrawberryField", strawberry.field(name="_service", resolver=_service))


def _declared(entity: str) -> Reference:
    async def resolve(context: Context, key: int) -> object | None:
        found: object | None = await entity_resolvers.one(context, entity, key)
        return found

    return resolve


def entity_types(types: Iterable[type]) -> list[type]:
    """The object types implementing `Node`: the subgraph's entities."""
    found = []
    for cls in types:
        definition = getattr(cls, "__strawberry_definition__", None)
        if (
            isinstance(definition, StrawberryObjectDefinition)
            and not definition.is_interface
            and any(i.origin is Node for i in definition.interfaces)
        ):
            found.append(cls)
    return found


@contextmanager
def keyed(types: Sequence[type]) -> Iterator[None]:
    """`@key(fields: "id")` on each of `types` for as long as the block runs."""
    saved: list[tuple[StrawberryObjectDefinition, Any]] = []
    for cls in types:
        definition: StrawberryObjectDefinition = cls.__strawberry_definition__  # type: ignore[attr-defined]  # checked by entity_types
        saved.append((definition, definition.directives))
        definition.directives = [*(definition.directives or ()), Key(fields=FieldSet("id"))]
    try:
        yield
    finally:
        for definition, directives in saved:
            definition.directives = directives


class FederatedSchema(FederationSchema):
    """A federation schema whose `_entities` go through the request's dataloaders."""

    subgraph_sdl: str = ""
    references: Mapping[str, Reference] = MappingProxyType({})

    async def entities_resolver(  # type: ignore[override]  # Strawberry awaits an async resolver
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        """One object (or null, or the error) per representation, in order."""
        # Concurrent loads of one type are one dataloader batch: one statement per type.
        found = await asyncio.gather(
            *(self._resolve(info.context, representation) for representation in representations)
        )
        return [FederationAny(value) for value in found]

    async def _resolve(self, context: Context, representation: object) -> object:
        if not isinstance(representation, dict):
            return ValidationError.single("representations", "must be objects")
        type_name, raw = representation.get("__typename"), representation.get("id")
        resolve = self.references.get(type_name) if isinstance(type_name, str) else None
        if resolve is None or not isinstance(type_name, str) or not isinstance(raw, str):
            return ValidationError.single(
                "representations", f"{type_name!r} is not an entity of this subgraph"
            )
        try:
            key = decode_id(raw, type_name)
        except ValidationError as error:
            return error
        return await resolve(context, key)


def references(types: Iterable[type], declared: Iterable[str]) -> dict[str, Reference]:
    """How each entity type's objects are loaded, by GraphQL type name."""
    names = {cls.__strawberry_definition__.name for cls in types}  # type: ignore[attr-defined]  # entity types
    return {entity: _declared(entity) for entity in declared if entity in names}


def print_subgraph(schema: FederatedSchema) -> str:
    """The subgraph SDL: printed while the keys are attached (see the module docstring)."""
    return print_schema(schema)
