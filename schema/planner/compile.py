"""Turn a validated query operation into a read plan, or decide that it cannot be planned.

Fields are collected exactly as graphql-core's executor collects them (fragments and
inline fragments expanded, `@skip`/`@include` evaluated, fields with one response key
merged), and arguments are coerced and converted exactly as Strawberry does before
calling a resolver; the resolvers' own argument rules (`page_request`, the filters'
`to_spec`) then run unchanged.

What a root field may hold comes from the declarations (`schema.planner.declared`).
A root field holding anything else, an argument the resolver would refuse, or an
object-level rule that refuses the caller is left to the resolvers, which produce the
answer or the error; the other root fields stay planned.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn

import strawberry
from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    OperationType,
    VariableNode,
    Visitor,
    get_named_type,
    visit,
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
from domain.specifications import Specification
from schema.planner.declared import (
    declaration_for,
    declared_leaf,
    declared_request,
    declared_root,
    declared_rule,
    source_of,
)

# Fields planned per object at most; a wider selection takes the resolver path (it bounds
# the size of the statement, whose text chains are split for Postgres's parser anyway).
MAX_KEYS = 50
_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")

type Details = list[FieldDetails]
type Grouped = Mapping[str, Details]


class NotPlannableError(Exception):
    """Raised while planning a root field; the resolvers answer that field."""


type _ScopeKey = tuple[int | None, frozenset[str], frozenset[str], frozenset[str]]

# Scopes already built, by caller and rule names: a rule is a function of the caller's
# id, roles and permissions alone (`domain.visibility`), and asking the declarations for
# it took a few percent of a read by id (docs/benchmarks/design-notes.md). A refusal is
# not kept: it is asked again.
_SCOPES: dict[_ScopeKey, plan.Scope] = {}
_SCOPES_KEPT = 1_000


def scope_for(principal: Principal, rules: frozenset[str]) -> plan.Scope:
    """The caller's object-level rules for one execution (raises DomainError if refused)."""
    key = (principal.user_id, principal.roles, principal.permissions, rules)
    found = _SCOPES.get(key)
    if found is not None:
        return found
    built = plan.Scope(principal.user_id, {name: _rule(name, principal) for name in rules})
    if len(_SCOPES) >= _SCOPES_KEPT:
        del _SCOPES[next(iter(_SCOPES))]  # the oldest
    _SCOPES[key] = built
    return built


def _rule(name: str, principal: Principal) -> Specification:
    declared = declared_rule(name, principal)
    if declared is None:
        raise LookupError(f"no rule for {name}")
    return declared


def plan_operation(
    schema: strawberry.Schema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    principal: Principal,
) -> plan.Plan | None:
    """The plan of a validated operation, or None when the normal executor must run.

    Each root field is planned on its own: one the planner cannot express is left to
    the resolvers (`Plan.fallback`) when the operation's root selections are plain
    fields, so the others keep their single statement each.
    """
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
    except GraphQLError:
        return None
    if collected.new_defer_usages:
        return None
    roots: list[plan.Root] = []
    fallback: set[str] = set()
    for key, details in collected.grouped_field_set.items():
        before = set(planner.rules)
        try:
            roots.append(planner.root(key, details, query_type))
            # Each rule is asked once now: a caller it refuses is refused by the resolver too.
            scope_for(principal, frozenset(planner.rules))
        except (NotPlannableError, DomainError, GraphQLError, LookupError):
            planner.rules = before
            fallback.add(key)
    if fallback and (len(fallback) == len(collected.grouped_field_set) or not _plain(built)):
        return None
    planned = frozenset(planner.rules)
    used = _variable_uses(document)
    kept = tuple(_keyed(root, used) for root in roots if root.key not in fallback)
    return plan.Plan(kept, planned, frozenset(fallback))


def _keyed(root: plan.Root, used: Mapping[str, int]) -> plan.Root:
    """`root`, its key's variable forgotten unless the document uses it exactly once (as
    that root's `id`): a variable used anywhere else (another field, a directive, another
    operation of the document) may shape the plan, so its value stays in the key."""
    if not isinstance(root, plan.RootObject) or root.key_from is None:
        return root
    return root if used.get(root.key_from, 0) == 1 else replace(root, key_from=None)


def _variable_uses(document: DocumentNode) -> dict[str, int]:
    """How many times each variable name is used in the whole document (definitions
    aside), in every operation and fragment."""
    counter = _VariableUses()
    visit(document, counter)
    return counter.uses


class _VariableUses(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.uses: dict[str, int] = {}

    def enter_variable_definition(self, *_: Any) -> Any:
        return self.SKIP  # a definition, not a use (its default value is a constant)

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        self.uses[node.name.value] = self.uses.get(node.name.value, 0) + 1


def _plain(built: Executor[Any]) -> bool:
    """Whether the operation's root selections are all fields (no fragments), so the
    resolvers can be given the fallback fields alone."""
    return all(isinstance(s, FieldNode) for s in built.operation.selection_set.selections)


@dataclass
class _Planner:
    strawberry_schema: strawberry.Schema
    schema: GraphQLSchema
    executor: Executor[Any]
    principal: Principal
    rules: set[str] = field(default_factory=set)

    # --- helpers --------------------------------------------------------------------

    def subfields(self, details: Details, parent: GraphQLObjectType, name: str) -> Grouped:
        field_def = self.field(parent, name)
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

    def field(self, parent: GraphQLObjectType, name: str) -> GraphQLField:
        found: GraphQLField | None = parent.fields.get(name)
        if found is None:
            raise NotPlannableError(name)
        return found

    def _type(self, name: str) -> GraphQLObjectType:
        found = self.schema.get_type(name)
        assert isinstance(found, GraphQLObjectType)
        return found

    def arguments(self, parent: GraphQLObjectType, details: Details) -> dict[str, Any]:
        """The resolver's keyword arguments, converted as Strawberry converts them."""
        node: FieldNode = details[0].node
        field_def = self.field(parent, node.name.value)
        raw = get_argument_values(field_def, node, self.executor.variable_values)
        definition = parent.extensions.get("strawberry-definition")
        assert isinstance(definition, StrawberryObjectDefinition)
        strawberry_field = self.strawberry_field(definition, node.name.value)
        return convert_arguments(
            raw,
            strawberry_field.arguments,
            scalar_registry=self.strawberry_schema.schema_converter.scalar_registry,
            config=self.strawberry_schema.config,
        )

    def strawberry_field(
        self, definition: StrawberryObjectDefinition, name: str
    ) -> StrawberryField:
        converter = self.strawberry_schema.config.name_converter
        for candidate in definition.fields:
            if converter.get_graphql_name(candidate) == name:
                return candidate
        raise NotPlannableError(name)

    def refuse(self, what: str) -> NoReturn:
        raise NotPlannableError(what)

    def target(self, graphql_type: GraphQLObjectType) -> plan.Source:
        """The plan's description of an object type: its declaration's source."""
        decl = declaration_for(graphql_type)
        if decl is None:
            return self.refuse(graphql_type.name)
        return source_of(decl)

    # --- roots ------------------------------------------------------------------------

    def root(self, key: str, details: Details, query: GraphQLObjectType) -> plan.Root:
        name = details[0].node.name.value
        if name == "__typename":
            return plan.RootConstant(key, '"Query"')
        if name == "me":  # the caller's own account (`Query.me`): null when anonymous
            if self.principal.user_id is None:
                return plan.RootConstant(key, "null")
            account = get_named_type(self.field(query, name).type)
            assert isinstance(account, GraphQLObjectType)
            target = self.target(account)
            return plan.RootObject(key, self.object(target, details, query, name), None)
        found = declared_root(self, key, details, query)
        if found is None:
            self.refuse(name)
        return found

    # --- connections --------------------------------------------------------------------

    def connection(
        self,
        entity: plan.Source,
        args: dict[str, Any],
        details: Details,
        parent: GraphQLObjectType,
        name: str,
    ) -> plan.Connection:
        request, spec = declared_request(entity, args)
        self.rules.add(plan.rule_name(entity))
        connection_type = get_named_type(self.field(parent, name).type)
        assert isinstance(connection_type, GraphQLObjectType)
        fields: list[plan.Edges | plan.PageInfo | plan.TotalCount | plan.Constant] = []
        for key, sub in self.subfields(details, parent, name).items():
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
                self.refuse(sub_name)
        return plan.Connection(entity, spec, request, tuple(fields))

    def page_info(self, key: str, details: Details, parent: GraphQLObjectType) -> plan.PageInfo:
        parts: list[tuple[str, plan.PageInfoPart] | plan.Constant] = []
        for sub_key, sub in self.subfields(details, parent, "pageInfo").items():
            sub_name = sub[0].node.name.value
            if sub_name == "__typename":
                parts.append(plan.Constant(sub_key, "PageInfo"))
            else:
                parts.append((sub_key, plan.PageInfoPart(sub_name)))
        return plan.PageInfo(key, tuple(parts))

    def edges(
        self,
        key: str,
        details: Details,
        parent: GraphQLObjectType,
        entity: plan.Source,
    ) -> plan.Edges:
        edge_type = get_named_type(self.field(parent, "edges").type)
        assert isinstance(edge_type, GraphQLObjectType)
        parts: list[plan.EdgeCursor | plan.EdgeNode | plan.Constant] = []
        for sub_key, sub in self.subfields(details, parent, "edges").items():
            sub_name = sub[0].node.name.value
            if sub_name == "__typename":
                parts.append(plan.Constant(sub_key, edge_type.name))
            elif sub_name == "cursor":
                parts.append(plan.EdgeCursor(sub_key))
            elif sub_name == "node":
                parts.append(plan.EdgeNode(sub_key, self.object(entity, sub, edge_type, "node")))
            else:
                self.refuse(sub_name)
        return plan.Edges(key, tuple(parts))

    # --- objects ------------------------------------------------------------------------

    def object(
        self,
        entity: plan.Source,
        details: Details,
        parent: GraphQLObjectType,
        name: str,
    ) -> plan.Selection:
        self.rules.add(plan.rule_name(entity))
        own_type = self._type(plan.rule_name(entity))
        fields: list[plan.Field] = []
        for key, sub in self.subfields(details, parent, name).items():
            if sub[0].node.name.value == "__typename":
                fields.append(plan.Constant(key, own_type.name))
            else:
                fields.append(declared_leaf(self, entity, key, sub, own_type))
        return plan.Selection(entity, tuple(fields))

    def money(
        self, key: str, details: Details, own: GraphQLObjectType, name: str, source: plan.Column
    ) -> plan.Money:
        return plan.Money(key, source, self.money_parts(details, own, name))

    def money_parts(
        self, details: Details, own: GraphQLObjectType, name: str
    ) -> tuple[tuple[str, plan.MoneyPart], ...]:
        """The selected parts of a money object, in response order."""
        return tuple(
            (sub_key, plan.MoneyPart(sub[0].node.name.value))
            for sub_key, sub in self.subfields(details, own, name).items()
        )
