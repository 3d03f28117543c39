"""GraphQL input and output types as JSON Schemas, and request values checked against them.

The JSON Schema published in OpenAPI and the check applied to requests come from the same
rules (one function each, side by side), so a value the document calls invalid is refused
with 422 and a valid one reaches GraphQL coercion intact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLType,
    Undefined,
    ast_from_value,
    value_from_ast_untyped,
)

from domain.errors import FieldProblem

type JsonSchema = dict[str, Any]

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
_DECIMAL = re.compile(DECIMAL_PATTERN)
_INT = re.compile(r"^-?[0-9]{1,10}$")
# Deeper input than this is refused before GraphQL sees it (recursive filters).
MAX_INPUT_DEPTH = 16


def named(gql_type: GraphQLType) -> GraphQLNamedType:
    while isinstance(gql_type, GraphQLNonNull | GraphQLList):
        gql_type = gql_type.of_type
    assert isinstance(gql_type, GraphQLNamedType)
    return gql_type


def nullable(gql_type: GraphQLType) -> GraphQLType:
    return gql_type.of_type if isinstance(gql_type, GraphQLNonNull) else gql_type


def is_connection(gql_type: GraphQLType) -> bool:
    """A Relay connection: `edges { node }` and `pageInfo`."""
    target = named(gql_type)
    return (
        isinstance(target, GraphQLObjectType)
        and "edges" in target.fields
        and "pageInfo" in target.fields
    )


def implements_node(gql_type: GraphQLType) -> bool:
    target = named(gql_type)
    return isinstance(target, GraphQLObjectType) and any(
        interface.name == "Node" for interface in target.interfaces
    )


def camel(enum_name: str) -> str:
    """`CREATED_AT` → `createdAt`: enum values as they read in a query string."""
    head, *rest = enum_name.lower().split("_")
    return head + "".join(part.title() for part in rest)


def default_json(value: Any, gql_type: GraphQLInputType) -> Any:
    """A default value as JSON, or Undefined when there is none."""
    if value is Undefined:
        return Undefined
    node = ast_from_value(value, gql_type)
    return Undefined if node is None else value_from_ast_untyped(node)


# --- JSON Schema -------------------------------------------------------------------------


def scalar_schema(scalar: GraphQLScalarType) -> JsonSchema:
    match scalar.name:
        case "ID" | "String":
            return {"type": "string"}
        case "Int":
            return {"type": "integer", "minimum": INT_MIN, "maximum": INT_MAX}
        case "Float":
            return {"type": "number"}
        case "Boolean":
            return {"type": "boolean"}
        case "Decimal":
            return {"type": "string", "pattern": DECIMAL_PATTERN, "examples": ["9.99"]}
        case "DateTime":
            return {"type": "string", "format": "date-time"}
        case _:
            return {}


def _or_null(schema: JsonSchema) -> JsonSchema:
    kind = schema.get("type")
    if isinstance(kind, str) and "$ref" not in schema:
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


class SchemaBuilder:
    """JSON Schemas for GraphQL types; named input types and enums become components."""

    def __init__(self, ref_prefix: str = "#/components/schemas/") -> None:
        self.ref_prefix = ref_prefix
        self.components: dict[str, JsonSchema] = {}

    def input(self, gql_type: GraphQLType) -> JsonSchema:
        if isinstance(gql_type, GraphQLNonNull):
            return self.input_required(gql_type.of_type)
        return _or_null(self.input_required(gql_type))

    def input_required(self, gql_type: GraphQLType) -> JsonSchema:
        if isinstance(gql_type, GraphQLList):
            return {"type": "array", "items": self.input(gql_type.of_type)}
        if isinstance(gql_type, GraphQLScalarType):
            return scalar_schema(gql_type)
        if isinstance(gql_type, GraphQLEnumType):
            return self._enum(gql_type)
        assert isinstance(gql_type, GraphQLInputObjectType), gql_type
        ref = {"$ref": self.ref_prefix + gql_type.name}
        if gql_type.name in self.components:
            return ref
        self.components[gql_type.name] = {}  # a placeholder breaks recursion
        properties: dict[str, JsonSchema] = {}
        required: list[str] = []
        for name, field in gql_type.fields.items():
            prop = self.input(field.type)
            if field.description:
                prop = {**prop, "description": field.description}
            default = default_json(field.default_value, field.type)
            if default is not Undefined:
                prop = {**prop, "default": default}
            if field.deprecation_reason:
                prop = {**prop, "deprecated": True}
            properties[name] = prop
            if isinstance(field.type, GraphQLNonNull) and default is Undefined:
                required.append(name)
        schema: JsonSchema = {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        if required:
            schema["required"] = required
        if gql_type.description:
            schema["description"] = gql_type.description
        self.components[gql_type.name] = schema
        return ref

    def _enum(self, enum: GraphQLEnumType) -> JsonSchema:
        if enum.name not in self.components:
            schema: JsonSchema = {"type": "string", "enum": list(enum.values)}
            if enum.description:
                schema["description"] = enum.description
            self.components[enum.name] = schema
        return {"$ref": self.ref_prefix + enum.name}

    def output(self, gql_type: GraphQLOutputType, properties: JsonSchema | None) -> JsonSchema:
        """The schema of a selected output value; `properties` describes an object's selection."""
        if isinstance(gql_type, GraphQLNonNull):
            return self.output_required(gql_type.of_type, properties)
        return _or_null(self.output_required(gql_type, properties))

    def output_required(self, gql_type: GraphQLType, properties: JsonSchema | None) -> JsonSchema:
        if isinstance(gql_type, GraphQLList):
            return {"type": "array", "items": self.output(gql_type.of_type, properties)}
        if isinstance(gql_type, GraphQLScalarType):
            return scalar_schema(gql_type)
        if isinstance(gql_type, GraphQLEnumType):
            return self._enum(gql_type)
        return {
            "type": "object",
            "properties": properties or {},
            "required": list(properties or {}),
        }


# --- checking request values -------------------------------------------------------------


def check(value: Any, gql_type: GraphQLType, field: str, depth: int = 0) -> list[FieldProblem]:
    """Every problem of a JSON value against a GraphQL input type, with its field path."""
    if depth > MAX_INPUT_DEPTH:
        return [FieldProblem(field, "is nested too deeply")]
    if isinstance(gql_type, GraphQLNonNull):
        if value is None:
            return [FieldProblem(field, "must not be null")]
        gql_type = gql_type.of_type
    elif value is None:
        return []
    if isinstance(gql_type, GraphQLList):
        if not isinstance(value, list):
            return [FieldProblem(field, "must be an array")]
        problems: list[FieldProblem] = []
        for index, element in enumerate(value):
            problems += check(element, gql_type.of_type, f"{field}[{index}]", depth + 1)
        return problems
    if isinstance(gql_type, GraphQLInputObjectType):
        return _check_object(value, gql_type, field, depth)
    if isinstance(gql_type, GraphQLEnumType):
        if not isinstance(value, str) or value not in gql_type.values:
            return [FieldProblem(field, f"must be one of {', '.join(gql_type.values)}")]
        return []
    assert isinstance(gql_type, GraphQLScalarType)
    message = _check_scalar(value, gql_type)
    return [FieldProblem(field, message)] if message else []


def _check_object(
    value: Any, gql_type: GraphQLInputObjectType, field: str, depth: int
) -> list[FieldProblem]:
    if not isinstance(value, Mapping):
        return [FieldProblem(field, "must be an object")]
    prefix = f"{field}." if field else ""
    problems = [
        FieldProblem(prefix + key, "is not a known field")
        for key in value
        if key not in gql_type.fields
    ]
    for name, spec in gql_type.fields.items():
        if name in value:
            problems += check(value[name], spec.type, prefix + name, depth + 1)
        elif isinstance(spec.type, GraphQLNonNull) and spec.default_value is Undefined:
            problems.append(FieldProblem(prefix + name, "is required"))
    return problems


def _check_scalar(value: Any, scalar: GraphQLScalarType) -> str | None:
    match scalar.name:
        case "ID" | "String":
            return None if isinstance(value, str) else "must be a string"
        case "Int":
            # JSON has one number type: 33.0 is the integer 33 (JSON Schema's `integer`
            # says so too), and GraphQL's Int coercion takes it as 33.
            ok = (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, float) and value.is_integer()
            )
            return None if ok and INT_MIN <= value <= INT_MAX else "must be a 32-bit integer"
        case "Float":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            return None if ok else "must be a number"
        case "Boolean":
            return None if isinstance(value, bool) else "must be true or false"
        case "Decimal":
            ok = isinstance(value, str) and _DECIMAL.match(value) is not None
            return None if ok else "must be a decimal number as a string, like 9.99"
        case "DateTime":
            return None if _is_datetime(value) else "must be an RFC 3339 date-time"
        case _:
            try:
                scalar.parse_value(value)
            except (GraphQLError, ValueError, TypeError, ArithmeticError):
                return f"is not a valid {scalar.name}"
            return None


def _is_datetime(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    return "T" in value.upper() and parsed.tzinfo is not None


def parse_query_value(raw: str, gql_type: GraphQLType) -> tuple[Any, str | None]:
    """A query-string value as the JSON value its (leaf) GraphQL type expects."""
    leaf = nullable(gql_type)
    if isinstance(leaf, GraphQLScalarType):
        match leaf.name:
            case "Int":
                return (int(raw), None) if _INT.match(raw) else (raw, "must be an integer")
            case "Float":
                try:
                    return float(raw), None
                except ValueError:
                    return raw, "must be a number"
            case "Boolean":
                if raw in ("true", "false"):
                    return raw == "true", None
                return raw, "must be true or false"
    return raw, None
