"""Declared entities planned from their declarations: nothing here names an entity.

A declaration (`schema.entities`) says which attributes a type exposes, who may read
each (`domain.model.Attribute.reading`, the same rule the resolvers apply), its
relationships and its policy. From it the planner describes the entity's storage as
data (`domain.read_plan.Source`) and each selected field as a plan leaf; a field it
cannot express (a computed field without SQL, a decimal) refuses the root field,
which the resolvers then answer.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from graphql import (
    GraphQLEnumType,
    GraphQLObjectType,
    GraphQLOutputType,
    VariableNode,
    get_named_type,
)
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.utils.str_converters import to_camel_case

from domain import read_plan as plan
from domain.errors import ForbiddenError, UnauthenticatedError
from domain.model import Attribute, FieldType, Reading, Relation, RelationKind, Through
from domain.principals import Principal
from domain.specifications import Always, Not, Specification, all_of
from schema.entities.declare import (
    Computed,
    Counted,
    Declaration,
    Declared,
    Related,
    computed_expression,
    counted_relation,
    declaration_of,
    declarations,
    summed_relation,
)
from schema.entities.declare import snake as snake_case
from schema.node import decode_id
from schema.pagination import OrderDirection, page_request
from schema.planner.computed import computed_leaf

if TYPE_CHECKING:
    from schema.planner.compile import Details, _Planner

# Stored types whose JSON and cursor the SQL writes exactly as Python does.
_WRITTEN = frozenset(
    {
        FieldType.STR,
        FieldType.TEXT,
        FieldType.EMAIL,
        FieldType.INT,
        FieldType.BOOL,
        FieldType.DATETIME,
        FieldType.REF,
        FieldType.MONEY,
        FieldType.ENUM_SET,
        FieldType.ENUM,
    }
)
# Sorted as the repositories sort (money by its cents); a boolean key has no cursor
# writing in SQL yet, so a sort by one is left to the resolvers (nor is a set sortable).
_SORTED = _WRITTEN - {FieldType.BOOL, FieldType.ENUM_SET}
_NOTHING = Not(Always())


def declaration_for(graphql_type: GraphQLObjectType) -> Declaration | None:
    """The declaration a GraphQL object type was built from, if any."""
    definition = graphql_type.extensions.get("strawberry-definition")
    if not isinstance(definition, StrawberryObjectDefinition):
        return None
    try:
        return declaration_of(definition.origin)
    except KeyError:
        return None


@cache
def source_of(decl: Declaration) -> plan.Source:
    """Where `decl`'s rows are, as plan data (made once per declaration)."""
    model = decl.model
    columns = tuple(
        plan.Column(a.name, a.type, a.column_names, a.nullable)
        for a in model.attributes
        if a.type in _WRITTEN
    )
    if model.part_of is not None:
        # A part's row names its owner in a column no attribute holds (an order line's
        # `order_id`): the column its owner's `parts` relation lists it by.
        owner = _named(model.part_of).model
        keys = {r.key for r in owner.parts if r.target == model.name}
        columns += tuple(plan.Column(key, FieldType.REF, (key,)) for key in sorted(keys))
    sortable = {"id"} | {a.name for a in model.attributes if a.orderable and a.type in _SORTED}
    return plan.Source(model.name, model.table, columns, frozenset(sortable))


def declared_rule(name: str, principal: Principal) -> Specification | None:
    """The objects of entity `name` the caller sees (none without the policy's read
    permission, as the generic service answers); None for an undeclared name."""
    for decl in declarations():
        if decl.name == name:
            policy = decl.model.policy
            if policy.read is not None and not principal.can(policy.read):
                return _NOTHING
            return policy.visible(principal)
    return None


def declared_root(
    planner: _Planner, key: str, details: Details, query: GraphQLObjectType
) -> plan.Root | None:
    """A declared root field's plan (`supplier(id)`, `suppliers(...)`); None if `details`
    names no declared root."""
    name = details[0].node.name.value
    returned = get_named_type(planner.field(query, name).type)
    if not isinstance(returned, GraphQLObjectType):
        return None
    decl = declaration_for(returned)
    if decl is not None and name == to_camel_case(snake_case(decl.name)):
        ident = decode_id(planner.arguments(query, details)["id"], decl.name)
        if _sees_none(decl, planner.principal):
            return plan.RootConstant(key, "null")  # as the loader: every id reads as null
        selection = planner.object(source_of(decl), details, query, name)
        return plan.RootObject(key, selection, ident, _id_variable(details))
    edges = returned.fields.get("edges")
    if edges is None:
        return None
    edge = get_named_type(edges.type)
    node = edge.fields.get("node") if isinstance(edge, GraphQLObjectType) else None
    node_type = get_named_type(node.type) if node is not None else None
    decl = declaration_for(node_type) if isinstance(node_type, GraphQLObjectType) else None
    if decl is None or name != to_camel_case(decl.model.plural):
        return None
    read = decl.model.policy.read
    if read is not None and not planner.principal.can(read):
        planner.refuse(f"{name}: the resolver refuses the caller")
    args = planner.arguments(query, details)
    return plan.RootConnection(key, planner.connection(source_of(decl), args, details, query, name))


def _id_variable(details: Details) -> str | None:
    """The variable a by-id root's `id` argument is, if it is one (`item(id: $id)`) on a
    field written once; whether the operation uses it elsewhere is `plan_operation`'s."""
    if len(details) != 1 or details[0].fragment_variable_values is not None:
        return None
    for argument in details[0].node.arguments or ():
        if argument.name.value == "id" and isinstance(argument.value, VariableNode):
            return argument.value.name.value
    return None


def _sees_none(decl: Declaration, principal: Principal) -> bool:
    """Whether the policy lets the caller see no object at all (the generic service then
    answers every id with null, without asking the database)."""
    read = decl.model.policy.read
    if read is not None and not principal.can(read):
        return True
    try:
        decl.model.policy.visible(principal)
    except (UnauthenticatedError, ForbiddenError):
        return True
    return False


def declared_request(source: plan.Source, args: dict[str, Any]) -> tuple[Any, Specification]:
    """The page request and filter of a declared connection, as `schema.entities.build`
    makes them (the declaration's default order when none is given)."""
    order_by, filter_ = args.get("order_by"), args.get("filter")
    if order_by is not None:
        field, direction = order_by.field.value, order_by.direction
    else:
        default = _declaration(source).model.default_sort
        field, direction = default.field, OrderDirection(default.direction.value)
    if field not in source.sort_fields:
        raise LookupError(f"sorting by {field}")
    request = page_request(args.get("first"), args.get("after"), field, direction)
    return request, filter_.to_spec() if filter_ else all_of([])


def _declaration(source: plan.Source) -> Declaration:
    return _named(source.entity)


def _named(name: str) -> Declaration:
    found = _named_or_none(name)
    if found is None:
        raise KeyError(name)
    return found


def _named_or_none(name: str) -> Declaration | None:
    for decl in declarations():
        if decl.name == name:
            return decl
    return None


def declared_leaf(
    planner: _Planner, source: plan.Source, key: str, details: Details, own: GraphQLObjectType
) -> plan.Field:
    name = details[0].node.name.value
    if name == "id":
        return plan.GlobalId(key, source.entity)
    definition = own.extensions["strawberry-definition"]
    python_name = planner.strawberry_field(definition, name).python_name
    decl = _declaration(source)
    option = decl.exposed.get(python_name)
    if isinstance(option, Declared):
        return _attribute(planner, decl, decl.model.attribute(python_name), key, details, own)
    stored = _stored(decl, python_name)
    if option is None and stored is not None and stored.type is FieldType.ENUM_SET:
        # A set of enum values exposed by a resolver of its own (`User.roles`), which
        # lists the members sorted by value, as they are stored; the SQL writes each
        # GraphQL name as its value upper-cased, so an enum named otherwise is refused.
        if not _upper_case_names(planner.field(own, name).type):
            planner.refuse(f"{decl.name}.{name}: enum names")
        return _attribute(planner, decl, stored, key, details, own)
    if isinstance(option, Computed):
        typed = computed_expression(decl, python_name, option, _named_or_none)

        def relations(relation_name: str) -> tuple[str, plan.Source]:
            relation = summed_relation(decl, python_name, relation_name)
            return relation.key, source_of(_named(relation.target))

        return computed_leaf(planner, key, details, own, typed, source_of(decl), relations)
    if isinstance(option, Counted):
        relation = counted_relation(decl, python_name, option)
        counted = source_of(_named(relation.target))
        planner.rules.add(counted.entity)
        return plan.Count(key, relation.key, counted)
    if isinstance(option, Related):
        relation = option.relation
        if relation.kind is RelationKind.MANY_TO_ONE:
            target_type = get_named_type(planner.field(own, name).type)
            assert isinstance(target_type, GraphQLObjectType)
            target = planner.target(target_type)
            selection = planner.object(target, details, own, name)
            return plan.ManyToOne(key, relation.key, selection)
        if relation.kind is RelationKind.ONE_TO_MANY:
            args = planner.arguments(own, details)
            target_source = source_of(_named(relation.target))
            connection = planner.connection(target_source, args, details, own, name)
            return plan.OneToMany(key, relation.key, connection)
        if relation.kind is RelationKind.MANY_TO_MANY:
            return _many_to_many(planner, key, details, own, relation)
        if relation.kind is RelationKind.PARTS:
            part = source_of(_named(relation.target))
            return plan.Parts(key, relation.key, planner.object(part, details, own, name))
    return planner.refuse(f"{source.entity}.{name}")


def _many_to_many(
    planner: _Planner, key: str, details: Details, own: GraphQLObjectType, relation: Relation
) -> plan.ManyToMany:
    """A many-to-many connection: the target's connection, its rows those an association
    row links to the parent row (the association's own policy is not applied: the
    resolvers apply the target's alone)."""
    name = details[0].node.name.value
    assert relation.through is not None
    through = Through.of(_named(relation.through).model, relation)
    args = planner.arguments(own, details)
    target_source = source_of(_named(relation.target))
    connection = planner.connection(target_source, args, details, own, name)
    return plan.ManyToMany(key, through, connection)


def _upper_case_names(output: GraphQLOutputType) -> bool:
    enum_type = get_named_type(output)
    if not isinstance(enum_type, GraphQLEnumType):
        return False
    # Strawberry gives each GraphQL value the Python member's value.
    return all(
        isinstance(value.value, str) and value.value.upper() == name
        for name, value in enum_type.values.items()
    )


def _stored(decl: Declaration, name: str) -> Attribute | None:
    for attribute in decl.model.attributes:
        if attribute.name == name:
            return attribute
    return None


def _attribute(
    planner: _Planner,
    decl: Declaration,
    attribute: Attribute,
    key: str,
    details: Details,
    own: GraphQLObjectType,
) -> plan.Field:
    if attribute.type not in _WRITTEN:
        planner.refuse(f"{decl.name}.{attribute.name}: {attribute.type}")
    if attribute.type is FieldType.ENUM and not _upper_case_names(
        planner.field(own, details[0].node.name.value).type
    ):
        planner.refuse(f"{decl.name}.{attribute.name}: enum names")
    column = source_of(decl).column(attribute.name)
    reading = attribute.reading(planner.principal)
    if reading is Reading.NONE:
        return plan.Null(key)
    leaf: plan.Stored | plan.Money
    if attribute.type is FieldType.MONEY:
        leaf = planner.money(key, details, own, details[0].node.name.value, column)
    else:
        leaf = plan.Stored(key, column, attribute.target)
    if reading is Reading.ALL:
        return leaf
    owner = attribute.owner or "id"
    owner_column = "id" if owner == "id" else decl.model.attribute(owner).column_names[0]
    return plan.Owned(owner_column, leaf)
