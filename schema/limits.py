"""Operation limits, counted on the fragment-expanded operation.

Depth, aliases, directives and root fields are checked by a graphql-core validation
rule; the cost (schema/cost.py) needs the variables, so it is checked when execution
starts, before any resolver runs. Every refusal is an error without `data` whose
message names the limit and the value and whose `extensions` carry a specific code,
the limit and the value:

    operation depth 15 exceeds the limit of 12          MAX_DEPTH_EXCEEDED
    operation alias count 31 exceeds the limit of 30    MAX_ALIASES_EXCEEDED
    operation directive count 51 exceeds the limit of 50  MAX_DIRECTIVES_EXCEEDED
    operation root field count 21 exceeds the limit of 20  MAX_ROOT_FIELDS_EXCEEDED
    operation cost 25001 exceeds the limit of 25000     MAX_COST_EXCEEDED
    document token count exceeds the limit of 5000      MAX_TOKENS_EXCEEDED

Depth counts fields on the longest path (a root field is depth 1); introspection
meta fields (`__schema`, `__type`) count as one level, as Strawberry's depth limiter
ignored them: GraphiQL's introspection query nests `ofType` nine levels, and nested
introspection lists are priced by the cost limit instead. Tokens are counted by the
parser (Strawberry's MaxTokensLimiter); parsing stops at the limit, so the error can
only name the limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)
from graphql.language import VisitorAction
from graphql.language.visitor import BREAK
from strawberry.extensions import SchemaExtension

from schema import errors as error_table
from schema.cost import execution_cost
from schema.fragments import evaluation_order, fragment_definitions, saturated
from schema.input_limits import (
    DEFAULT_INPUT_LIMITS,
    InputLimits,
    input_limits_rule,
    variable_errors,
)

INTROSPECTION_ROOTS = ("__schema", "__type")


@dataclass(frozen=True, slots=True)
class Limits:
    """The most an operation may ask for; each value comes from settings."""

    max_depth: int = 12
    max_aliases: int = 30
    max_directives: int = 50
    max_root_fields: int = 20
    max_tokens: int = 5_000
    max_cost: int = 25_000


@dataclass(frozen=True, slots=True)
class Shape:
    """What a selection set amounts to once every fragment in it is expanded."""

    depth: int = 0
    aliases: int = 0
    directives: int = 0
    fields: int = 0  # fields selected at this level (the root fields, for an operation)

    def __add__(self, other: Shape) -> Shape:
        return Shape(
            max(self.depth, other.depth),
            saturated(self.aliases + other.aliases),
            saturated(self.directives + other.directives),
            saturated(self.fields + other.fields),
        )


EMPTY = Shape()


def operation_shapes(document: DocumentNode) -> Iterator[tuple[OperationDefinitionNode, Shape]]:
    """Each operation of the document with its fragment-expanded shape."""
    counter = _ShapeCounter(document)
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            shape = counter.selection_shape(definition.selection_set)
            yield definition, shape + Shape(directives=len(definition.directives or ()))


class _ShapeCounter:
    def __init__(self, document: DocumentNode) -> None:
        fragments = fragment_definitions(document)
        self.fragment_shapes: dict[str, Shape] = {}
        for name in evaluation_order(fragments):
            fragment = fragments[name]
            own = Shape(directives=len(fragment.directives or ()))
            self.fragment_shapes[name] = self.selection_shape(fragment.selection_set) + own

    def selection_shape(self, selection_set: SelectionSetNode | None) -> Shape:
        total = EMPTY
        for selection in selection_set.selections if selection_set else ():
            total += Shape(directives=len(selection.directives or ()))
            if isinstance(selection, FieldNode):
                total += self.field_shape(selection)
            elif isinstance(selection, InlineFragmentNode):
                total += self.selection_shape(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                # A spread that closes a cycle (invalid anyway) is not yet known: empty.
                total += self.fragment_shapes.get(selection.name.value, EMPTY)
        return total

    def field_shape(self, node: FieldNode) -> Shape:
        inner = self.selection_shape(node.selection_set)
        depth = 1 if node.name.value in INTROSPECTION_ROOTS else 1 + inner.depth
        return Shape(depth, inner.aliases + (node.alias is not None), inner.directives, 1)


def limit_error(
    rule: error_table.ErrorRule,
    message: str,
    limit: int,
    value: int | None = None,
    node: OperationDefinitionNode | None = None,
) -> GraphQLError:
    extensions: dict[str, Any] = {"code": rule.code, "limit": limit}
    if value is not None:
        extensions["value"] = value
    return GraphQLError(message, nodes=node, extensions=extensions)


def violations(
    limits: Limits, operation: OperationDefinitionNode, shape: Shape
) -> list[GraphQLError]:
    """One error for each structural limit the operation exceeds."""
    checks = (
        (error_table.MAX_DEPTH_EXCEEDED, "depth", shape.depth, limits.max_depth),
        (error_table.MAX_ALIASES_EXCEEDED, "alias count", shape.aliases, limits.max_aliases),
        (
            error_table.MAX_DIRECTIVES_EXCEEDED,
            "directive count",
            shape.directives,
            limits.max_directives,
        ),
        (
            error_table.MAX_ROOT_FIELDS_EXCEEDED,
            "root field count",
            shape.fields,
            limits.max_root_fields,
        ),
    )
    return [
        limit_error(
            rule, f"operation {what} {value} exceeds the limit of {limit}", limit, value, operation
        )
        for rule, what, value, limit in checks
        if value > limit
    ]


@cache
def limits_rule(limits: Limits) -> type[ValidationRule]:
    """The validation rule for these limits; one class per value, so that
    Strawberry's validation cache (keyed by the rule classes) can hit."""

    class OperationLimitsRule(ValidationRule):
        def enter_document(self, node: DocumentNode, *_args: object) -> VisitorAction:
            for operation, shape in operation_shapes(node):
                for error in violations(limits, operation, shape):
                    self.report_error(error)
            return BREAK

    return OperationLimitsRule


class OperationLimits(SchemaExtension):
    """Refuse operations over the limits; report the cost in `extensions.cost`."""

    def __init__(
        self,
        *,
        limits: Limits,
        input_limits: InputLimits = DEFAULT_INPUT_LIMITS,
        report_cost: bool = True,
    ) -> None:
        self.limits = limits
        self.input_limits = input_limits
        self.report_cost = report_cost
        self.cost: int | None = None

    def on_operation(self) -> Iterator[None]:
        """Adds the structural and input rules; gives the token-limit error its code."""
        context = self.execution_context
        context.validation_rules = (
            *context.validation_rules,
            limits_rule(self.limits),
            input_limits_rule(self.input_limits),
        )
        yield
        result = context.result
        if result is not None and result.errors:
            result.errors = [self._coded_token_error(error) for error in result.errors]

    def on_execute(self) -> Iterator[None]:
        """Checks the variables, then prices the operation; over a limit, the result
        is set and nothing runs (not the read planner either: it comes later)."""
        context = self.execution_context
        bad_input = variable_errors(context.variables, self.input_limits)
        if bad_input:
            context.result = ExecutionResult(data=None, errors=bad_input)
        elif context.graphql_document is not None:
            self.cost = execution_cost(context)
            if self.cost > self.limits.max_cost:
                limit = self.limits.max_cost
                message = f"operation cost {self.cost} exceeds the limit of {limit}"
                error = limit_error(error_table.MAX_COST_EXCEEDED, message, limit, self.cost)
                context.result = ExecutionResult(data=None, errors=[error])
        yield

    def get_results(self) -> dict[str, Any]:
        """`{"cost": {"requested": N, "limit": M}}` once the operation was priced."""
        if not self.report_cost or self.cost is None:
            return {}
        return {"cost": {"requested": self.cost, "limit": self.limits.max_cost}}

    def _coded_token_error(self, error: GraphQLError) -> GraphQLError:
        limit = self.limits.max_tokens
        if f"Document contains more than {limit} tokens." not in error.message:
            return error
        message = f"document token count exceeds the limit of {limit}"
        coded = limit_error(error_table.MAX_TOKENS_EXCEEDED, message, limit)
        return GraphQLError(
            coded.message,
            source=error.source,
            positions=error.positions,
            extensions=coded.extensions,
        )
