"""The demo types not declared yet (Order, OrderLine), planned from hand tables.

Their roots, fields and links are listed here by name (issue 17, item 5); a link from
them to a declared type (`OrderLine.item`, `Order.customer`) is planned from its
declaration already, and a declared type's connection to them (`User.orders`) from the
link back (`hand_children`). As each becomes a declaration, `schema.planner.declared`
plans it and its entries here go (Item's and User's went with their declarations);
with the last, this module goes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from graphql import GraphQLObjectType, get_named_type

from domain import expressions
from domain import read_plan as plan
from domain.expressions import ValueType
from domain.model import FieldType
from domain.principals import Principal
from domain.specifications import Always, Specification, all_of
from domain.visibility import visible_orders
from schema.node import decode_id
from schema.orders import OrderOrder, order_sort
from schema.pagination import page_request
from schema.planner.computed import column_type, computed_leaf

if TYPE_CHECKING:
    from schema.planner.compile import Details, _Planner

RULES: dict[plan.Entity, Callable[[Principal], Specification]] = {
    plan.Entity.ORDER: visible_orders,
    # An order's lines are part of it: whoever sees the order sees them all.
    plan.Entity.LINE: lambda _principal: Always(),
}
_LISTS = {"orders": plan.Entity.ORDER}
_SINGLE = {"order": plan.Entity.ORDER}


def hand_root(
    planner: _Planner, key: str, details: Details, query: GraphQLObjectType
) -> plan.Root | None:
    """A demo root field's plan; None when `details` names no demo root."""
    name = details[0].node.name.value
    if name in _LISTS:
        args = planner.arguments(query, details)
        connection = planner.connection(_LISTS[name], args, details, query, name)
        return plan.RootConnection(key, connection)
    if name == "me":
        if planner.principal.user_id is None:
            return plan.RootConstant(key, "null")
        target = _related(planner, query, name)
        return plan.RootObject(key, planner.object(target, details, query, name), None)
    if name in _SINGLE:
        entity = _SINGLE[name]
        args = planner.arguments(query, details)
        ident = decode_id(args["id"], entity.value)
        return plan.RootObject(key, planner.object(entity, details, query, name), ident)
    return None


def hand_request(entity: plan.Entity, args: dict[str, Any]) -> tuple[Any, Specification]:
    """The page request and filter of a demo connection, as schema/query.py makes them."""
    first, after, filter_, order_by = (
        args.get("first"),
        args.get("after"),
        args.get("filter"),
        args.get("order_by"),
    )
    assert entity is plan.Entity.ORDER  # the one hand-planned connection
    request = page_request(first, after, *order_sort(order_by or OrderOrder()))
    return request, filter_.to_spec() if filter_ else all_of([])


def hand_leaf(
    planner: _Planner, entity: plan.Entity, key: str, details: Details, own: GraphQLObjectType
) -> plan.Field:
    name = details[0].node.name.value
    if name == "id" and entity is not plan.Entity.LINE:
        return plan.GlobalId(key, entity.value)
    column = _COLUMNS[entity].get(name)
    if column is not None:
        return plan.Value(key, column)
    if name in ("createdAt", "updatedAt") and entity is not plan.Entity.LINE:
        if name == "updatedAt" and entity is not plan.Entity.ORDER:
            planner.refuse(name)
        return plan.Timestamp(key, "created_at" if name == "createdAt" else "updated_at")
    if entity is plan.Entity.LINE and name == "unitPrice":
        return planner.money(key, details, own, name, _LINES.column("unit_price"))
    typed = _COMPUTED[entity].get(name)
    if typed is not None:
        source = _LINES if entity is plan.Entity.LINE else _ORDERS
        return computed_leaf(planner, key, details, own, typed, source, _RELATIONS.__getitem__)
    if entity is plan.Entity.ORDER:
        if name == "status":
            return plan.EnumName(key, "status")
        if name == "lines":
            target = planner.object(plan.Entity.LINE, details, own, name)
            return plan.Child(key, plan.Link.ORDER_LINES, target)
        if name == "customer":
            if planner.principal.user_id is None:
                planner.refuse("anonymous customer")
            target = planner.object(_related(planner, own, name), details, own, name)
            return plan.Child(key, plan.Link.ORDER_CUSTOMER, target)
    if entity is plan.Entity.LINE and name == "item":
        target = planner.object(_related(planner, own, name), details, own, name)
        return plan.Child(key, plan.Link.LINE_ITEM, target)
    return planner.refuse(f"{entity.value}.{name}")


def _related(planner: _Planner, own: GraphQLObjectType, name: str) -> plan.Entity | plan.Source:
    """A link's target: planned from its declaration once that type is declared."""
    found = get_named_type(planner.field(own, name).type)
    assert isinstance(found, GraphQLObjectType)
    return planner.target(found)


def hand_children(
    planner: _Planner, own: GraphQLObjectType, key: str, details: Details, name: str
) -> plan.Field:
    """A declared type's connection to a hand-planned type (`User.orders`): the rows
    whose link back to `own` (`Order.customer`, `_PARENTS`) holds this row's id."""
    connection_type = get_named_type(planner.field(own, name).type)
    edges = (
        connection_type.fields.get("edges")
        if isinstance(connection_type, GraphQLObjectType)
        else None
    )
    edge = get_named_type(edges.type) if edges is not None else None
    node = edge.fields.get("node") if isinstance(edge, GraphQLObjectType) else None
    node_type = get_named_type(node.type) if node is not None else None
    if not isinstance(node_type, GraphQLObjectType):
        return planner.refuse(f"{own.name}.{name}")
    try:
        entity = plan.Entity(node_type.name)
    except ValueError:
        return planner.refuse(f"{own.name}.{name}")
    columns = [
        column
        for field_name, column in _PARENTS.get(entity, {}).items()
        if get_named_type(node_type.fields[field_name].type) is own
    ]
    if len(columns) != 1:  # no link back, or more than one: which is meant is not known
        return planner.refuse(f"{own.name}.{name}")
    args = planner.arguments(own, details)
    connection = planner.connection(entity, args, details, own, name)
    return plan.OneToMany(key, columns[0], connection)


# The hand types' links to a declared parent, by GraphQL field name: the column holding
# the parent's id (a connection from the parent is planned back along it).
_PARENTS: dict[plan.Entity, dict[str, str]] = {
    plan.Entity.ORDER: {"customer": "customer_id"},
    plan.Entity.LINE: {"item": "item_id"},
}

# Stored values output as they are, by GraphQL field name.
_COLUMNS: dict[plan.Entity, dict[str, str]] = {
    plan.Entity.ORDER: {},
    plan.Entity.LINE: {"quantity": "quantity"},
}

# The lines as a source of computed values, and their relation to the order.
_LINES = plan.Source(
    "OrderLine",
    "order_lines",
    (
        plan.Column("order_id", FieldType.REF, ("order_id",)),
        plan.Column("quantity", FieldType.INT, ("quantity",)),
        plan.Column("unit_price", FieldType.MONEY, ("unit_price_cents", "currency")),
    ),
    frozenset({"id"}),
)
_ORDERS = plan.Source("Order", "orders", (), frozenset({"id"}))
_RELATIONS = {"lines": ("order_id", _LINES)}


def _typed(expression: expressions.Expression) -> tuple[expressions.Expression, ValueType]:
    return expressions.typed(expression, lambda _relation, name: column_type(_LINES.column(name)))


# Computed fields, the domain's rules as expressions (`OrderLine.subtotal`, `Order.total`).
_SUBTOTAL = expressions.product("unit_price", "quantity")
_COMPUTED: dict[plan.Entity, dict[str, tuple[expressions.Expression, ValueType]]] = {
    plan.Entity.ORDER: {"total": _typed(expressions.sum_of("lines", _SUBTOTAL))},
    plan.Entity.LINE: {"subtotal": _typed(_SUBTOTAL)},
}
