"""Turn a validated query operation into a read plan, or decide that it cannot be planned.

Fields are collected exactly as graphql-core's executor collects them (fragments and
inline fragments expanded, `@skip`/`@include` evaluated, fields with one response key
merged), and arguments are coerced and converted exactly as Strawberry does before
calling a resolver; the resolvers' own argument rules (`page_request`, the filters'
`to_spec`) then run unchanged. Anything outside the table below, any argument the
resolver would refuse, and any object-level rule that refuses the caller gives None:
the normal executor then runs and produces the answer or the error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import strawberry
from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    OperationType,
    get_named_type,
)
from graphql.execution.collect_fields import (
    FieldDetails,
    collect_fields,
    collect_subfields,
)
from graphql.execution.executor import Executor
from graphql.execution.values import get_argument_values
from graphql.language import DocumentNode
from strawberry.types.arguments import convert_arguments
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField

from domain import read_plan as plan
from domain.errors import DomainError
from domain.principals import Principal
from domain.services.visibility import visible_items, visible_orders, visible_users
from domain.specifications import Specification, all_of
from schema.node import decode_id
from schema.orders import OrderOrder, order_sort
from schema.pagination import OrderDirection, page_request
from schema.users import UserOrder

# Fields planned per object at most; a wider selection takes the resolver path (it bounds
# the size of the statement, whose text chains are split for Postgres's parser anyway).
MAX_KEYS = 50
_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")

type Details = list[FieldDetails]
type Grouped = Mapping[str, Details]


class NotPlannableError(Exception):
    """Raised while planning; the operation goes to the normal executor."""


_RULES: dict[plan.Entity, Callable[[Principal], Specification]] = {
    plan.Entity.USER: visible_users,
    plan.Entity.ITEM: visible_items,
    plan.Entity.ORDER: visible_orders,
}


def scope_for(principal: Principal, rules: frozenset[plan.Entity]) -> plan.Scope:
    """The caller's object-level rules for one execution (raises DomainError if refused)."""
    return plan.Scope(principal.user_id, {entity: _RULES[entity](principal) for entity in rules})


def plan_operation(
    schema: strawberry.Schema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    principal: Principal,
) -> plan.Plan | None:
    """The plan of a validated operation, or None when the normal executor must run."""
    graphql_schema = schema._schema
    built = Executor.build(
        graphql_schema, document, raw_variable_values=variables, operation_name=operation_name
    )
    if isinstance(built, list):  # variable coercion errors: the executor reports them
        return None
    if built.operation.operation is not OperationType.QUERY:
        return None
    query_type = graphql_schema.query_type
    assert query_type is not None
    planner = _Planner(schema, graphql_schema, built, principal)
    try:
        collected = collect_fields(
            graphql_schema, built.fragments, built.variable_values, query_type, built.operation
        )
        if collected.new_defer_usages:
            return None
        roots = tuple(
            planner.root(key, details, query_type)
            for key, details in collected.grouped_field_set.items()
        )
        # Each rule is asked once now: a caller it refuses is refused by the resolver too.
        scope_for(principal, frozenset(planner.rules))
    except (NotPlannableError, DomainError, GraphQLError):
        return None
    return plan.Plan(roots, frozenset(planner.rules))


@dataclass
class _Planner:
    strawberry_schema: strawberry.Schema
    schema: GraphQLSchema
    executor: Executor[Any]
    principal: Principal
    rules: set[plan.Entity] = field(default_factory=set)

    # --- helpers --------------------------------------------------------------------

    def _subfields(self, details: Details, parent: GraphQLObjectType, name: str) -> Grouped:
        field_def = self._field(parent, name)
        return_type = get_named_type(field_def.type)
        if not isinstance(return_type, GraphQLObjectType):
            raise NotPlannableError(name)
        for detail in details:
            if detail.fragment_variable_values is not None:
                raise NotPlannableError("fragment arguments")
        collected = collect_subfields(
            self.schema,
            self.executor.fragments,
            self.executor.variable_values,
            self.executor.operation,
            return_type,
            details,
        )
        if collected.new_defer_usages:
            raise NotPlannableError("@defer")
        grouped = collected.grouped_field_set
        if len(grouped) > MAX_KEYS:
            raise NotPlannableError("too many keys for one JSON object")
        for key in grouped:
            if not _NAME.match(key):
                raise NotPlannableError(key)
        return grouped

    def _field(self, parent: GraphQLObjectType, name: str) -> GraphQLField:
        found: GraphQLField | None = parent.fields.get(name)
        if found is None:
            raise NotPlannableError(name)
        return found

    def _type(self, name: str) -> GraphQLObjectType:
        found = self.schema.get_type(name)
        assert isinstance(found, GraphQLObjectType)
        return found

    def _arguments(self, parent: GraphQLObjectType, details: Details) -> dict[str, Any]:
        """The resolver's keyword arguments, converted as Strawberry converts them."""
        node: FieldNode = details[0].node
        field_def = self._field(parent, node.name.value)
        raw = get_argument_values(field_def, node, self.executor.variable_values)
        definition = parent.extensions.get("strawberry-definition")
        assert isinstance(definition, StrawberryObjectDefinition)
        strawberry_field = self._strawberry_field(definition, node.name.value)
        return convert_arguments(
            raw,
            strawberry_field.arguments,
            scalar_registry=self.strawberry_schema.schema_converter.scalar_registry,
            config=self.strawberry_schema.config,
        )

    def _strawberry_field(
        self, definition: StrawberryObjectDefinition, name: str
    ) -> StrawberryField:
        converter = self.strawberry_schema.config.name_converter
        for candidate in definition.fields:
            if converter.get_graphql_name(candidate) == name:
                return candidate
        raise NotPlannableError(name)

    # --- roots ------------------------------------------------------------------------

    def root(self, key: str, details: Details, query: GraphQLObjectType) -> plan.Root:
        name = details[0].node.name.value
        if name == "__typename":
            return plan.RootConstant(key, '"Query"')
        if name in ("users", "items", "orders"):
            entity = {"users": plan.Entity.USER, "items": plan.Entity.ITEM}.get(
                name, plan.Entity.ORDER
            )
            args = self._arguments(query, details)
            connection = self.connection(entity, args, details, query, name)
            return plan.RootConnection(key, connection)
        if name == "me":
            if self.principal.user_id is None:
                return plan.RootConstant(key, "null")
            return plan.RootObject(key, self.object(plan.Entity.USER, details, query, name), None)
        if name in ("user", "item", "order"):
            entity = {"user": plan.Entity.USER, "item": plan.Entity.ITEM}.get(
                name, plan.Entity.ORDER
            )
            args = self._arguments(query, details)
            ident = decode_id(args["id"], entity.value)
            if entity is plan.Entity.USER and self.principal.user_id is None:
                # The users loader answers nobody to an anonymous caller.
                return plan.RootConstant(key, "null")
            return plan.RootObject(key, self.object(entity, details, query, name), ident)
        raise NotPlannableError(name)

    # --- connections --------------------------------------------------------------------

    def connection(
        self,
        entity: plan.Entity,
        args: dict[str, Any],
        details: Details,
        parent: GraphQLObjectType,
        name: str,
    ) -> plan.Connection:
        # The same argument handling as the resolvers in schema/query.py and schema/users.py.
        first, after, filter_, order_by = (
            args.get("first"),
            args.get("after"),
            args.get("filter"),
            args.get("order_by"),
        )
        if entity is plan.Entity.ORDER:
            request = page_request(first, after, *order_sort(order_by or OrderOrder()))
        else:
            if order_by is None and entity is plan.Entity.ITEM:
                request = page_request(first, after, "id", OrderDirection.ASC)
            else:
                sort = order_by or UserOrder()
                request = page_request(first, after, sort.field.value, sort.direction)
        spec = filter_.to_spec() if filter_ else all_of([])
        self.rules.add(entity)
        connection_type = get_named_type(self._field(parent, name).type)
        assert isinstance(connection_type, GraphQLObjectType)
        fields: list[plan.Edges | plan.PageInfo | plan.TotalCount | plan.Constant] = []
        for key, sub in self._subfields(details, parent, name).items():
            sub_name = sub[0].node.name.value
            if sub_name == "__typename":
                fields.append(plan.Constant(key, connection_type.name))
            elif sub_name == "totalCount":
                fields.append(plan.TotalCount(key))
            elif sub_name == "pageInfo":
                fields.append(self.page_info(key, sub, connection_type))
            elif sub_name == "edges":
                fields.append(self.edges(key, sub, connection_type, entity))
            else:
                raise NotPlannableError(sub_name)
        return plan.Connection(entity, spec, request, tuple(fields))

    def page_info(self, key: str, details: Details, parent: GraphQLObjectType) -> plan.PageInfo:
        parts: list[tuple[str, plan.PageInfoPart] | plan.Constant] = []
        for sub_key, sub in self._subfields(details, parent, "pageInfo").items():
            sub_name = sub[0].node.name.value
            if sub_name == "__typename":
                parts.append(plan.Constant(sub_key, "PageInfo"))
            else:
                parts.append((sub_key, plan.PageInfoPart(sub_name)))
        return plan.PageInfo(key, tuple(parts))

    def edges(
        self, key: str, details: Details, parent: GraphQLObjectType, entity: plan.Entity
    ) -> plan.Edges:
        edge_type = get_named_type(self._field(parent, "edges").type)
        assert isinstance(edge_type, GraphQLObjectType)
        parts: list[plan.EdgeCursor | plan.EdgeNode | plan.Constant] = []
        for sub_key, sub in self._subfields(details, parent, "edges").items():
            sub_name = sub[0].node.name.value
            if sub_name == "__typename":
                parts.append(plan.Constant(sub_key, edge_type.name))
            elif sub_name == "cursor":
                parts.append(plan.EdgeCursor(sub_key))
            elif sub_name == "node":
                parts.append(plan.EdgeNode(sub_key, self.object(entity, sub, edge_type, "node")))
            else:
                raise NotPlannableError(sub_name)
        return plan.Edges(key, tuple(parts))

    # --- objects ------------------------------------------------------------------------

    def object(
        self, entity: plan.Entity, details: Details, parent: GraphQLObjectType, name: str
    ) -> plan.Selection:
        if entity is not plan.Entity.LINE:
            self.rules.add(entity)
        own_type = self._type(entity.value)
        fields: list[plan.Field] = []
        for key, sub in self._subfields(details, parent, name).items():
            fields.append(self.leaf(entity, key, sub, own_type))
        return plan.Selection(entity, tuple(fields))

    def leaf(
        self, entity: plan.Entity, key: str, details: Details, own: GraphQLObjectType
    ) -> plan.Field:
        name = details[0].node.name.value
        if name == "__typename":
            return plan.Constant(key, entity.value)
        if name == "id" and entity is not plan.Entity.LINE:
            return plan.GlobalId(key, entity.value)
        column = _COLUMNS[entity].get(name)
        if column is not None:
            return plan.Value(key, column)
        if name in ("createdAt", "updatedAt") and entity is not plan.Entity.LINE:
            if name == "updatedAt" and entity is not plan.Entity.ORDER:
                raise NotPlannableError(name)
            return plan.Timestamp(key, "created_at" if name == "createdAt" else "updated_at")
        source = _MONEY[entity].get(name)
        if source is not None:
            return self.money(key, details, own, name, source)
        if entity is plan.Entity.USER:
            if name == "roles":
                return plan.RoleNames(key)
            if name == "email":
                return plan.Email(key, everyone=self.principal.is_admin)
            if name == "orders":
                args = self._arguments(own, details)
                connection = self.connection(plan.Entity.ORDER, args, details, own, name)
                return plan.NestedConnection(key, plan.Link.CUSTOMER_ORDERS, connection)
        if entity is plan.Entity.ORDER:
            if name == "status":
                return plan.EnumName(key, "status")
            if name == "lines":
                target = self.object(plan.Entity.LINE, details, own, name)
                return plan.Child(key, plan.Link.ORDER_LINES, target)
            if name == "customer":
                if self.principal.user_id is None:
                    raise NotPlannableError("anonymous customer")
                target = self.object(plan.Entity.USER, details, own, name)
                return plan.Child(key, plan.Link.ORDER_CUSTOMER, target)
        if entity is plan.Entity.LINE and name == "item":
            target = self.object(plan.Entity.ITEM, details, own, name)
            return plan.Child(key, plan.Link.LINE_ITEM, target)
        raise NotPlannableError(f"{entity.value}.{name}")

    def money(
        self,
        key: str,
        details: Details,
        own: GraphQLObjectType,
        name: str,
        source: plan.MoneySource,
    ) -> plan.Money:
        parts = tuple(
            (sub_key, plan.MoneyPart(sub[0].node.name.value))
            for sub_key, sub in self._subfields(details, own, name).items()
        )
        return plan.Money(key, source, parts)


# Stored values output as they are, by GraphQL field name.
_COLUMNS: dict[plan.Entity, dict[str, str]] = {
    plan.Entity.USER: {"name": "name", "active": "active"},
    plan.Entity.ITEM: {
        "sku": "sku",
        "name": "name",
        "description": "description",
        "stock": "stock",
        "active": "active",
    },
    plan.Entity.ORDER: {},
    plan.Entity.LINE: {"quantity": "quantity"},
}

_MONEY: dict[plan.Entity, dict[str, plan.MoneySource]] = {
    plan.Entity.USER: {},
    plan.Entity.ITEM: {"price": plan.MoneySource.PRICE},
    plan.Entity.ORDER: {"total": plan.MoneySource.TOTAL},
    plan.Entity.LINE: {
        "unitPrice": plan.MoneySource.UNIT_PRICE,
        "subtotal": plan.MoneySource.SUBTOTAL,
    },
}
