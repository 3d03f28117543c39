"""CRUD routes derived from the schema by convention; each one a generated GraphQL document.

Conventions (the schema's, read by introspection, nothing per entity):

- an object type implementing `Node` is an entity; its collection name is the Query field
  returning its connection (`items`), else its name in kebab case plus `s`;
- `Query.x(id: ID!): T` → `GET /{plural}/{id}`; `Query.x: T` without arguments →
  `GET /{plural}/x` (so `me` → `GET /users/me`); `Query.xs(...): TConnection` → `GET /{plural}`;
- `Mutation.createT(...)` → `POST /{plural}` (201 + Location), `updateT(id, ...)` →
  `PATCH /{plural}/{id}`, `deleteT(id)` → `DELETE /{plural}/{id}` (204);
- `Mutation.<verb>T(id, ...)` → `POST /{plural}/{id}/<verb>` (`cancelOrder` →
  `/orders/{id}/cancel`);
  `update<T><Part>(id, ...)` → `PATCH` and `POST /{plural}/{id}/<part>` (`updateOrderStatus`);
- every other argument is a query parameter (GET, DELETE) or a body field (POST, PATCH).

A generated document selects every scalar and enum field, expands value objects (money,
order lines) up to MAX_DEPTH levels, names nested entities by `{ id }` only, and leaves out
connections and fields with required arguments.
"""

from __future__ import annotations

import re

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    Undefined,
)

from gateway.rest.operation import OperationSpec
from gateway.rest.types import implements_node, is_connection, named

MAX_DEPTH = 3
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_VERB = re.compile(r"^[a-z]+")


def kebab(name: str) -> str:
    return _CAMEL_BOUNDARY.sub("-", name).lower()


def pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def entities(schema: GraphQLSchema) -> dict[str, str]:
    """Each entity type's collection name: the connection field's, else `<kebab>s`."""
    plurals: dict[str, str] = {}
    query = schema.query_type
    if query is not None:
        for name, definition in query.fields.items():
            if is_connection(definition.type):
                connection = named(definition.type)
                assert isinstance(connection, GraphQLObjectType)
                edge = named(connection.fields["edges"].type)
                assert isinstance(edge, GraphQLObjectType)
                plurals.setdefault(named(edge.fields["node"].type).name, kebab(name))
    for type_name, gql_type in schema.type_map.items():
        if implements_node(gql_type) and not type_name.startswith("__"):
            plurals.setdefault(type_name, kebab(type_name) + "s")
    return plurals


def selection(gql_type: GraphQLObjectType, depth: int = 0) -> str:
    """Every scalar field, value objects expanded, nested entities by id."""
    parts: list[str] = []
    for name, definition in gql_type.fields.items():
        if _needs_arguments(definition) or is_connection(definition.type):
            continue
        target = named(definition.type)
        if isinstance(target, GraphQLScalarType | GraphQLEnumType):
            parts.append(name)
        elif isinstance(target, GraphQLObjectType):
            if implements_node(target):
                parts.append(f"{name} {{ id }}")
            elif depth < MAX_DEPTH:
                parts.append(f"{name} {selection(target, depth + 1)}")
    return "{ " + " ".join(parts) + " }"


def _needs_arguments(definition: GraphQLField) -> bool:
    return any(
        isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined
        for arg in definition.args.values()
    )


def _document(
    kind: str, operation: str, field: str, definition: GraphQLField, selected: str
) -> str:
    variables = ", ".join(f"${n}: {a.type}" for n, a in definition.args.items())
    arguments = ", ".join(f"{n}: ${n}" for n in definition.args)
    head = f"{kind} {pascal(operation)}" + (f"({variables})" if variables else "")
    call = field + (f"({arguments})" if arguments else "")
    return f"{head} {{ {call} {selected} }}".replace("  ", " ")


def _entity_selection(definition: GraphQLField) -> str:
    target = named(definition.type)
    if not isinstance(target, GraphQLObjectType):
        return ""
    if is_connection(definition.type):
        edge = named(target.fields["edges"].type)
        assert isinstance(edge, GraphQLObjectType)
        node = named(edge.fields["node"].type)
        assert isinstance(node, GraphQLObjectType)
        extra = " totalCount" if "totalCount" in target.fields else ""
        page_info = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
        return f"{{ edges {{ node {selection(node, 0)} }} {page_info}{extra} }}"
    return selection(target, 0)


def derive(schema: GraphQLSchema, prefix: str) -> list[OperationSpec]:
    """The CRUD and action routes the schema's conventions imply, under `prefix`."""
    plurals = entities(schema)
    specs: list[OperationSpec] = []
    if schema.query_type is not None:
        specs += _queries(schema.query_type, plurals, prefix)
    if schema.mutation_type is not None:
        specs += _mutations(schema.mutation_type, plurals, prefix)
    return specs


def _queries(query: GraphQLObjectType, plurals: dict[str, str], prefix: str) -> list[OperationSpec]:
    specs: list[OperationSpec] = []
    for name, definition in query.fields.items():
        target = named(definition.type)
        if is_connection(definition.type):
            connection = named(definition.type)
            assert isinstance(connection, GraphQLObjectType)
            edge = named(connection.fields["edges"].type)
            assert isinstance(edge, GraphQLObjectType)
            node = named(edge.fields["node"].type).name
            path = f"{prefix}/{plurals[node]}"
            operation = "list" + pascal(name)
        elif implements_node(target) and target.name in plurals:
            base = f"{prefix}/{plurals[target.name]}"
            if "id" in definition.args:
                path, operation = base + "/{id}", "get" + pascal(name)
            elif not _needs_arguments(definition):
                path, operation = f"{base}/{kebab(name)}", "get" + pascal(name)
            else:
                continue
        else:
            continue
        document = _document("query", operation, name, definition, _entity_selection(definition))
        specs.append(OperationSpec("GET", path, document, operation_id=operation))
    return specs


def _mutations(
    mutation: GraphQLObjectType, plurals: dict[str, str], prefix: str
) -> list[OperationSpec]:
    specs: list[OperationSpec] = []
    by_length = sorted(plurals, key=len, reverse=True)
    for name, definition in mutation.fields.items():
        verb_match = _VERB.match(name)
        if verb_match is None:
            continue
        verb, remainder = verb_match.group(), name[verb_match.end() :]
        entity = next((t for t in by_length if remainder.startswith(t)), None)
        if entity is None:
            continue
        part = remainder[len(entity) :]
        base = f"{prefix}/{plurals[entity]}"
        has_id = "id" in definition.args
        selected = _entity_selection(definition)
        document = _document("mutation", name, name, definition, selected)
        if verb == "create" and not part and not has_id:
            specs.append(OperationSpec("POST", base, document, status=201, operation_id=name))
        elif not has_id:
            continue
        elif verb == "update" and not part:
            specs.append(OperationSpec("PATCH", base + "/{id}", document, operation_id=name))
        elif verb == "delete" and not part:
            specs.append(OperationSpec("DELETE", base + "/{id}", document, 204, operation_id=name))
        elif verb == "update":
            path = f"{base}/{{id}}/{kebab(part[:1].lower() + part[1:])}"
            specs.append(OperationSpec("PATCH", path, document, operation_id=name))
            specs.append(OperationSpec("POST", path, document, operation_id=name + "ViaPost"))
        elif not part:
            path = f"{base}/{{id}}/{kebab(verb)}"
            specs.append(OperationSpec("POST", path, document, operation_id=name))
    return specs
