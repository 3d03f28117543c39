"""One REST route backed by one GraphQL document: its bindings and its response shape.

Generated CRUD routes and named `.graphql` operations both end up here, so parameters,
bodies, responses, deprecations and the OpenAPI entry follow the same rules for both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal
from weakref import WeakKeyDictionary

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
    print_schema,
    type_from_ast,
    validate,
)

from gateway.rest.types import (
    JsonSchema,
    SchemaBuilder,
    camel,
    is_connection,
    named,
    nullable,
)

QUERY_METHODS = frozenset({"GET", "DELETE"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_PATH_PARAM = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)}")
# Input objects nested deeper than this are not offered as query parameters (use GraphQL).
MAX_PARAM_DEPTH = 2
# Scalars whose value is the path segment's text as it is.
_AS_IS_SCALARS = frozenset({"ID", "String"})

type Shape = Literal["object", "connection", "empty", "value"]


@dataclass(frozen=True, slots=True)
class OperationSpec:
    """What a route is before it is checked against the schema."""

    method: str
    path: str
    document: str
    status: int | None = None
    summary: str | None = None
    tag: str | None = None
    operation_id: str | None = None
    source: str = "generated"


@dataclass(frozen=True, slots=True)
class QueryParam:
    """A query parameter and the variable (or part of one) it sets."""

    name: str
    variable: tuple[str, ...]
    type: GraphQLInputType
    required: bool = False
    # `orderBy=price:desc`: the accepted spellings and the input object each one means.
    choices: dict[str, dict[str, str]] | None = None
    description: str | None = None

    @property
    def repeated(self) -> bool:
        return isinstance(nullable(self.type), GraphQLList)


@dataclass(frozen=True, slots=True)
class Body:
    """The JSON body: the one input-object variable, or an object of the variables."""

    variable: str | None
    fields: dict[str, GraphQLInputType]

    @property
    def required(self) -> bool:
        return any(isinstance(t, GraphQLNonNull) for t in self.fields.values())


@dataclass(frozen=True, slots=True)
class Deprecated:
    """A deprecated field the document selects (`Query.x` for a deprecated route)."""

    coordinate: str
    reason: str
    route: bool


@dataclass(slots=True)
class RestOperation:
    method: str
    path: str
    operation_id: str
    document: str
    ast: DocumentNode
    operation_type: Literal["query", "mutation"]
    root_field: str
    root_type: GraphQLOutputType
    status: int
    shape: Shape
    path_params: dict[str, GraphQLInputType]
    query_params: tuple[QueryParam, ...]
    body: Body | None
    default_values: dict[str, Any]
    summary: str | None
    description: str | None
    tag: str
    deprecations: tuple[Deprecated, ...]
    response_properties: JsonSchema | None
    source: str
    # Filled by the registry once every route is known.
    location: str | None = None
    conditional_get: RestOperation | None = field(default=None, repr=False)
    # Derived from the above once (see `__post_init__`): what binding a request needs.
    path_as_is: bool = field(init=False, repr=False)
    required_query: tuple[str, ...] = field(init=False, repr=False)
    query_names: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # A path segment is a non-empty string: an ID or String parameter takes it as
        # it is, with nothing to parse or check (`parse_query_value` and `check` pass it).
        self.path_as_is = all(
            isinstance(leaf := nullable(t), GraphQLScalarType) and leaf.name in _AS_IS_SCALARS
            for t in self.path_params.values()
        )
        self.required_query = tuple(p.name for p in self.query_params if p.required)
        self.query_names = frozenset(p.name for p in self.query_params)

    @property
    def deprecated_route(self) -> Deprecated | None:
        return next((d for d in self.deprecations if d.route), None)

    @property
    def null_is_an_answer(self) -> bool:
        """A query naming no resource (`GET /users/me`): its `null` is answered, not a 404.

        With a path parameter (`GET /items/{id}`) a `null` means that resource is missing
        or hidden, which is a 404; without one it is the value itself (`me` when anonymous).
        """
        return (
            self.operation_type == "query"
            and not self.path_params
            and not isinstance(self.root_type, GraphQLNonNull)
        )


# Documents found valid, with the schema (its SDL) they were checked against. Whether a
# document is valid depends on the schema's types (in one process a scalar's name is
# one implementation) and the document alone, and checking it is most of what compiling
# a route costs (2-4 ms a document, 20-40 documents; the rest of a build is ~50 ms): a
# process that builds several gateways over one schema (the test suite builds about a
# thousand) checks each document once.
_valid: set[tuple[str, str]] = set()
_sdl: WeakKeyDictionary[GraphQLSchema, str] = WeakKeyDictionary()


def _validate(schema: GraphQLSchema, ast: DocumentNode, document: str) -> list[GraphQLError]:
    sdl = _sdl.get(schema)
    if sdl is None:
        sdl = _sdl[schema] = print_schema(schema)
    if (sdl, document) in _valid:
        return []
    errors = validate(schema, ast)
    if not errors:
        _valid.add((sdl, document))
    return errors


def compile_operation(
    schema: GraphQLSchema, spec: OperationSpec, builder: SchemaBuilder
) -> RestOperation:
    """Check a document against the schema and derive its bindings; raises ValueError."""
    method = spec.method.upper()
    ast = parse(spec.document)
    errors = _validate(schema, ast, spec.document)
    operations = [d for d in ast.definitions if isinstance(d, OperationDefinitionNode)]
    if errors or len(operations) != 1:
        problems = "; ".join(e.message for e in errors) or "exactly one operation is needed"
        raise ValueError(f"{method} {spec.path}: {problems}")
    operation = operations[0]
    kind: Literal["query", "mutation"]
    if operation.operation.value == "query":
        kind = "query"
    elif operation.operation.value == "mutation":
        kind = "mutation"
    else:
        raise ValueError(f"{method} {spec.path}: only queries and mutations have REST routes")
    if kind == "mutation" and method == "GET":
        raise ValueError(f"{method} {spec.path}: a mutation cannot be a GET")
    roots = [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]
    if len(roots) != 1 or len(operation.selection_set.selections) != 1:
        raise ValueError(f"{method} {spec.path}: select exactly one root field")
    root = roots[0]
    root_parent = schema.query_type if kind == "query" else schema.mutation_type
    assert root_parent is not None
    root_def = root_parent.fields[root.name.value]

    variables: dict[str, GraphQLInputType] = {}
    defaults: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        var_type = type_from_ast(schema, definition.type)
        assert var_type is not None  # validated above
        variables[definition.variable.name.value] = var_type  # type: ignore[assignment]  # input by validation
        if definition.default_value is not None:
            defaults[definition.variable.name.value] = definition.default_value
    path_names = _PATH_PARAM.findall(spec.path)
    unknown = [n for n in path_names if n not in variables]
    if unknown:
        raise ValueError(f"{method} {spec.path}: no variable for path parameter(s) {unknown}")
    rest = {n: t for n, t in variables.items() if n not in path_names}

    query_params: tuple[QueryParam, ...] = ()
    body: Body | None = None
    if method in QUERY_METHODS:
        query_params = tuple(p for n, t in rest.items() for p in _params(n, t, (n,), 0, ()))
    elif rest:
        only = next(iter(rest.items())) if len(rest) == 1 else None
        if only and isinstance(nullable(only[1]), GraphQLInputObjectType):
            body = Body(only[0], rest)
        else:
            body = Body(None, rest)

    deprecations: list[Deprecated] = []
    if root_def.deprecation_reason:
        coordinate = f"{root_parent.name}.{root.name.value}"
        deprecations.append(Deprecated(coordinate, root_def.deprecation_reason, True))
    properties = (
        _selection(schema, builder, named(root_def.type), root.selection_set, ast, deprecations)
        if root.selection_set
        else None
    )
    shape: Shape
    if is_connection(root_def.type):
        shape = "connection"
    elif isinstance(named(root_def.type), GraphQLObjectType):
        shape = "object"
    else:
        shape = "value"
    status = spec.status or 200
    if status == 204:
        shape = "empty"
    segments = [s for s in spec.path.split("/") if s and not s.startswith("{")]
    return RestOperation(
        method=method,
        path=spec.path,
        operation_id=spec.operation_id
        or (operation.name.value if operation.name else root.name.value),
        document=spec.document,
        ast=ast,
        operation_type=kind,
        root_field=(root.alias or root.name).value,
        root_type=root_def.type,
        status=status,
        shape=shape,
        path_params={n: variables[n] for n in path_names},
        query_params=query_params,
        body=body,
        default_values=defaults,
        summary=spec.summary or root_def.description,
        description=None,
        tag=spec.tag or (segments[2] if len(segments) > 2 else "api"),
        deprecations=tuple(deprecations),
        response_properties=properties,
        source=spec.source,
    )


def _params(
    name: str,
    gql_type: GraphQLInputType,
    variable: tuple[str, ...],
    depth: int,
    seen: tuple[str, ...],
) -> list[QueryParam]:
    target = named(gql_type)
    if not isinstance(target, GraphQLInputObjectType):
        # A list of input objects cannot be spelled as query parameters.
        if isinstance(nullable(gql_type), GraphQLList) and isinstance(
            named(gql_type), GraphQLInputObjectType
        ):
            return []
        required = isinstance(gql_type, GraphQLNonNull) and len(variable) == 1
        return [QueryParam(name, variable, gql_type, required)]
    if isinstance(nullable(gql_type), GraphQLList):
        return []
    sort = _sort_choices(target)
    if sort is not None:
        return [QueryParam(name, variable, gql_type, choices=sort, description=target.description)]
    if target.name in seen or depth >= MAX_PARAM_DEPTH:
        return []
    params: list[QueryParam] = []
    for field_name, spec in target.fields.items():
        params += _params(
            f"{name}[{field_name}]",
            spec.type,
            (*variable, field_name),
            depth + 1,
            (*seen, target.name),
        )
    return params


def _sort_choices(target: GraphQLInputObjectType) -> dict[str, dict[str, str]] | None:
    """`{field: Enum, direction: Enum}` inputs read as `field:direction` in a query string."""
    if set(target.fields) != {"field", "direction"}:
        return None
    by, direction = (named(target.fields[n].type) for n in ("field", "direction"))
    if not isinstance(by, GraphQLEnumType) or not isinstance(direction, GraphQLEnumType):
        return None
    choices: dict[str, dict[str, str]] = {}
    for value in by.values:
        choices[camel(value)] = {"field": value}
        for way in direction.values:
            choices[f"{camel(value)}:{way.lower()}"] = {"field": value, "direction": way}
    return choices


def _selection(
    schema: GraphQLSchema,
    builder: SchemaBuilder,
    parent: Any,
    selection_set: SelectionSetNode,
    document: DocumentNode,
    deprecations: list[Deprecated],
) -> JsonSchema:
    """JSON Schema properties of a selection; records the deprecated fields it reads."""
    properties: JsonSchema = {}
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    for selection in selection_set.selections:
        if isinstance(selection, FragmentSpreadNode):
            fragment = fragments[selection.name.value]
            properties.update(
                _selection(schema, builder, parent, fragment.selection_set, document, deprecations)
            )
            continue
        if isinstance(selection, InlineFragmentNode):
            properties.update(
                _selection(schema, builder, parent, selection.selection_set, document, deprecations)
            )
            continue
        assert isinstance(selection, FieldNode)
        key = (selection.alias or selection.name).value
        if selection.name.value == "__typename":
            properties[key] = {"type": "string"}
            continue
        definition = parent.fields[selection.name.value]
        if definition.deprecation_reason:
            coordinate = f"{parent.name}.{selection.name.value}"
            deprecations.append(Deprecated(coordinate, definition.deprecation_reason, False))
        inner = None
        if selection.selection_set is not None:
            inner = _selection(
                schema,
                builder,
                named(definition.type),
                selection.selection_set,
                document,
                deprecations,
            )
        prop = builder.output(definition.type, inner)
        if definition.description:
            prop = {**prop, "description": definition.description}
        properties[key] = prop
    return properties
