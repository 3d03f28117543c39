"""The static cost of an operation, counted before it runs.

Every field costs 1. A field that returns a page multiplies the cost of its selection
by the page size it asks for, so the cost grows like the number of objects the
response can hold:

    cost(field) = 1 + multiplier(field) * cost(selection of the field)

- A field with a `first` (or `limit`) argument multiplies by that argument: a literal,
  a variable's value (or the variable's default), else the argument's schema default
  (20 for root lists, 10 for `User.orders`); always clamped to 0..MAX_PAGE_SIZE (100),
  the largest page a resolver will serve.
- `edges` / `nodes` of a connection multiply by 1: the connection already counted them.
- Other lists of objects have no page size. They weigh LIST_WEIGHTS[Type.field], else
  DEFAULT_LIST_WEIGHT (5). `Order.lines` weighs 5: the domain caps an order at 100
  lines, but orders hold one to three lines in practice, and the lines' items come
  through a dataloader (one statement per level), so a typical order costs what five
  lines do. Introspection lists (`types`, `fields`, ...) take the default too, which
  keeps GraphiQL's introspection query cheap and nested introspection bombs expensive.

Fragments are expanded (each spread costs what its fragment costs), so they hide
nothing. The result saturates at 2^53-1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_list_type,
)
from graphql.type import SchemaMetaFieldDef, TypeMetaFieldDef
from strawberry.types import ExecutionContext

from resolvers.context import Context
from schema.fragments import evaluation_order, fragment_definitions, saturated
from schema.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

PAGE_SIZE_ARGUMENTS = ("first", "limit")
CONNECTION_LISTS = ("edges", "nodes")
DEFAULT_LIST_WEIGHT = 5
LIST_WEIGHTS: Mapping[str, int] = {"Order.lines": 5}


def execution_cost(context: ExecutionContext) -> int:
    """The cost of the operation being executed, computed once per execution."""
    # Kept in the operation's state, so the cost limit and the cost budget, two
    # extensions of the same operation, walk the document once between them.
    state = context.context.operation if isinstance(context.context, Context) else None
    if state is not None and state.priced is not None and state.priced[0] is context:
        return state.priced[1]
    if context.graphql_document is None:
        return 0
    priced = operation_cost(
        context.schema, context.graphql_document, context.variables, context.operation_name
    )
    if state is not None:
        state.priced = (context, priced)
    return priced


def operation_cost(
    schema: strawberry.Schema | GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
) -> int:
    """The static cost of the operation `operation_name` selects; 0 when none matches."""
    graphql_schema = schema if isinstance(schema, GraphQLSchema) else schema._schema
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    return _CostCounter(graphql_schema, document, operation, variables or {}).total()


class _CostCounter:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.variables = variables
        self.fragments = fragment_definitions(document)
        self.fragment_costs: dict[str, int] = {}

    def total(self) -> int:
        for name in evaluation_order(self.fragments):
            fragment = self.fragments[name]
            condition = self.schema.get_type(fragment.type_condition.name.value)
            self.fragment_costs[name] = self.selection_cost(fragment.selection_set, condition)
        root = self.schema.get_root_type(self.operation.operation)
        return self.selection_cost(self.operation.selection_set, root)

    def selection_cost(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None
    ) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field_cost(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_cost(selection.selection_set, inner)
            elif isinstance(selection, FragmentSpreadNode):
                # A spread that closes a cycle (invalid anyway) is not yet known: 0.
                total += self.fragment_costs.get(selection.name.value, 0)
        return saturated(total)

    def field_cost(self, node: FieldNode, parent: GraphQLNamedType | None) -> int:
        definition = _field_definition(parent, node.name.value)
        if node.selection_set is None:
            return 1
        child_type = get_named_type(definition.type) if definition else None
        children = self.selection_cost(node.selection_set, child_type)
        return saturated(1 + self.multiplier(node, parent, definition) * children)

    def multiplier(
        self, node: FieldNode, parent: GraphQLNamedType | None, definition: GraphQLField | None
    ) -> int:
        if definition is None or parent is None:
            return 1
        for name in PAGE_SIZE_ARGUMENTS:
            if name in definition.args:
                size = self.argument_value(node, name)
                if size is None:
                    default = definition.args[name].default_value
                    size = default if _is_int(default) else DEFAULT_PAGE_SIZE
                return max(0, min(size, MAX_PAGE_SIZE))
        if not is_list_type(get_nullable_type(definition.type)):
            return 1
        if node.name.value in CONNECTION_LISTS and parent.name.endswith("Connection"):
            return 1
        return LIST_WEIGHTS.get(f"{parent.name}.{node.name.value}", DEFAULT_LIST_WEIGHT)

    def argument_value(self, node: FieldNode, name: str) -> int | None:
        for argument in node.arguments or ():
            if argument.name.value == name:
                return self.int_value(argument.value)
        return None

    def int_value(self, value: ValueNode) -> int | None:
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            variable = value.name.value
            if variable in self.variables:
                given = self.variables[variable]
                return given if _is_int(given) else None
            for definition in self.operation.variable_definitions or ():
                if definition.variable.name.value == variable and definition.default_value:
                    return self.int_value(definition.default_value)
        return None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _field_definition(parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
    if name == "__schema":
        return SchemaMetaFieldDef
    if name == "__type":
        return TypeMetaFieldDef
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        found: GraphQLField | None = parent.fields.get(name)
        return found
    return None
