"""Limits on what a client may send, checked before anything runs.

Document-level: a length in characters (checked before parsing, so a huge document
or string literal costs nothing to refuse) and a length for every name (field, alias,
argument, variable, fragment, operation), which would otherwise be echoed back:

    document length 20000 exceeds the limit of 15000     MAX_DOCUMENT_LENGTH_EXCEEDED
    name length 300 exceeds the limit of 128             MAX_NAME_LENGTH_EXCEEDED

Value-level, the same for literals in the document and for variables, all
BAD_USER_INPUT: no string holding a NUL character (PostgreSQL text cannot store one),
no string longer than `max_string_length`, no list longer than `max_list_length`
(`or: [...]` filters among them), and input objects nested at most `max_input_depth`
deep (`not: {not: ...}`). Numbers are bounded by their types (Int is 32-bit) and by
the domain (money, stock).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from graphql import (
    ArgumentNode,
    GraphQLError,
    ListValueNode,
    NameNode,
    Node,
    ObjectValueNode,
    StringValueNode,
    ValidationRule,
    ValueNode,
    VariableDefinitionNode,
)
from graphql.language import VisitorAction
from graphql.language.visitor import SKIP

from schema import errors as error_table


@dataclass(frozen=True, slots=True)
class InputLimits:
    """The most a request may send; each value comes from settings."""

    max_document_chars: int = 15_000
    max_name_length: int = 128
    max_string_length: int = 10_000
    max_list_length: int = 100
    max_input_depth: int = 16


DEFAULT_INPUT_LIMITS = InputLimits()


def document_length_error(limits: InputLimits, document: str) -> GraphQLError | None:
    """The refusal for a document over the length limit, before it is parsed."""
    if len(document) <= limits.max_document_chars:
        return None
    limit = limits.max_document_chars
    return GraphQLError(
        f"document length {len(document)} exceeds the limit of {limit}",
        extensions={
            "code": error_table.MAX_DOCUMENT_LENGTH_EXCEEDED.code,
            "limit": limit,
            "value": len(document),
        },
    )


def _bad_input(message: str, nodes: Node | None = None) -> GraphQLError:
    return GraphQLError(message, nodes, extensions={"code": error_table.BAD_USER_INPUT.code})


def value_problems(value: Any, limits: InputLimits, where: str, depth: int = 0) -> Iterator[str]:
    """What is wrong with one JSON value (a variable), naming where; empty if nothing."""
    if isinstance(value, str):
        if "\x00" in value:
            yield f"{where}: a string may not contain NUL characters"
        if len(value) > limits.max_string_length:
            yield f"{where}: a string may hold at most {limits.max_string_length} characters"
    elif isinstance(value, list):
        if len(value) > limits.max_list_length:
            yield f"{where}: a list may hold at most {limits.max_list_length} items"
            return
        for index, item in enumerate(value):
            yield from value_problems(item, limits, f"{where}.{index}", depth)
    elif isinstance(value, Mapping):
        if depth + 1 > limits.max_input_depth:
            yield f"{where}: input objects may be nested at most {limits.max_input_depth} deep"
            return
        for key, item in value.items():
            if not isinstance(key, str) or "\x00" in key:
                yield f"{where}: a key may not contain NUL characters"
                continue
            yield from value_problems(item, limits, f"{where}.{key}", depth + 1)


def variable_errors(variables: Mapping[str, Any] | None, limits: InputLimits) -> list[GraphQLError]:
    """One BAD_USER_INPUT error for each problem in the request's variables."""
    return [
        _bad_input(f"variable ${problem}")
        for name, value in (variables or {}).items()
        for problem in value_problems(value, limits, name)
    ]


def _literal_problems(node: ValueNode, limits: InputLimits, depth: int = 0) -> Iterator[str]:
    if isinstance(node, StringValueNode):
        if "\x00" in node.value:
            yield "a string may not contain NUL characters"
        if len(node.value) > limits.max_string_length:
            yield f"a string may hold at most {limits.max_string_length} characters"
    elif isinstance(node, ListValueNode):
        if len(node.values) > limits.max_list_length:
            yield f"a list may hold at most {limits.max_list_length} items"
            return
        for item in node.values:
            yield from _literal_problems(item, limits, depth)
    elif isinstance(node, ObjectValueNode):
        if depth + 1 > limits.max_input_depth:
            yield f"input objects may be nested at most {limits.max_input_depth} deep"
            return
        for object_field in node.fields:
            yield from _literal_problems(object_field.value, limits, depth + 1)


@cache
def input_limits_rule(limits: InputLimits) -> type[ValidationRule]:
    """The validation rule for these limits (one class per value, for the validation
    cache): long names, and bad literal values in arguments and variable defaults."""

    class InputLimitsRule(ValidationRule):
        def enter_name(self, node: NameNode, *_args: object) -> None:
            if len(node.value) > limits.max_name_length:
                limit = limits.max_name_length
                self.report_error(
                    GraphQLError(
                        f"name length {len(node.value)} exceeds the limit of {limit}",
                        node,
                        extensions={
                            "code": error_table.MAX_NAME_LENGTH_EXCEEDED.code,
                            "limit": limit,
                            "value": len(node.value),
                        },
                    )
                )

        def enter_argument(self, node: ArgumentNode, *_args: object) -> VisitorAction:
            for problem in _literal_problems(node.value, limits):
                self.report_error(_bad_input(f"argument {node.name.value}: {problem}", node))
            return None

        def enter_variable_definition(
            self, node: VariableDefinitionNode, *_args: object
        ) -> VisitorAction:
            if node.default_value is not None:
                for problem in _literal_problems(node.default_value, limits):
                    name = node.variable.name.value
                    self.report_error(_bad_input(f"default of ${name}: {problem}", node))
            return None

        def enter_string_value(self, _node: StringValueNode, *_args: object) -> VisitorAction:
            return SKIP  # checked with its argument or default

    return InputLimitsRule
