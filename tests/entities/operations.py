"""Hypothesis strategies for query operations over any declared entity, from its model.

An operation asks for an entity's connection (random page size, order, filter and
cursor, some of them refused on purpose) or one object by id, selecting random
attributes and following its relationships a level or two: many-to-one to a declared
entity or to a demo type, one-to-many as a nested connection. Nothing names an entity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

from domain.expressions import ValueType
from domain.model import Attribute, FieldType, RelationKind
from domain.paging import Cursor, sort_key
from schema.entities import Declaration
from schema.entities.declare import Computed, Declared, Related, computed_expression, snake
from schema.node import to_global_id
from tests.entities.samples import SUFFIX, camel, domain_value, graphql_value

FIRSTS = (None, 0, 1, 3, 20, 101)
# What a many-to-one to a demo type selects.
DEMO_LEAVES = {"User": ("id", "name", "email", "__typename"), "Item": ("id", "name", "sku")}
PAGE_INFO = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"


class Operations:
    """Operations over `declarations`, whose rows have the ids `keys` (by entity)."""

    def __init__(
        self, declarations: Sequence[Declaration], keys: Mapping[str, Sequence[int]]
    ) -> None:
        self.by_name = {d.name: d for d in declarations}
        self.keys = keys

    def operation(self, decl: Declaration) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
        @st.composite
        def build(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
            variables: dict[str, Any] = {}
            if draw(st.booleans()):
                ident = self._id(draw, decl)
                body = self.selection(draw, decl, 2, variables)
                root = f'{camel(snake(decl.name))}(id: "{ident}") {{ {body} }}'
            else:
                arguments = self.arguments(draw, decl, variables, "root")
                connection = self.connection(draw, decl, 2, variables)
                root = f"{camel(decl.model.plural)}{arguments} {{ {connection} }}"
            declared = "".join(f", ${name}: {kind}" for name, (kind, _) in variables.items())
            header = f"query Generated({declared[2:]})" if variables else "query Generated"
            return f"{header} {{ {root} }}", {name: v for name, (_, v) in variables.items()}

        return build()

    def _id(self, draw: st.DrawFn, decl: Declaration) -> str:
        kind = draw(st.sampled_from(("own", "own", "own", "missing", "foreign")))
        if kind == "foreign":
            return to_global_id("Item", 1)
        ident = 999_999 if kind == "missing" else draw(st.sampled_from(self.keys[decl.name]))
        return to_global_id(decl.name, ident)

    def arguments(
        self, draw: st.DrawFn, decl: Declaration, variables: dict[str, Any], at: str
    ) -> str:
        model = decl.model
        parts: list[str] = []
        first = draw(st.sampled_from(FIRSTS))
        if first is not None:
            parts.append(f"first: {first}")
        sortable = [a for a in model.attributes if a.orderable]
        order: Attribute | None = None
        if draw(st.booleans()):
            order = draw(st.sampled_from([None, *sortable]))
            field = "ID" if order is None else order.name.upper()
            direction = draw(st.sampled_from(("ASC", "DESC")))
            parts.append(f"orderBy: {{field: {field}, direction: {direction}}}")
        elif model.default_sort.field != "id":
            order = model.attribute(model.default_sort.field)
        if draw(st.integers(0, 3)) == 0:
            parts.append(f'after: "{self._cursor(draw, order)}"')
        filterable = [a for a in model.attributes if a.filters and a.type is not FieldType.REF]
        if filterable and bool(draw(st.booleans())):
            attribute = draw(st.sampled_from(filterable))
            op = draw(st.sampled_from(sorted(attribute.filters)))
            value = graphql_value(attribute, domain_value(attribute, draw(st.integers(0, 9)), {}))
            if op.value == "contains":
                value = draw(st.sampled_from(("a", "ph", "Ë", "%", "")))
            name = f"filter_{at}_{len(variables)}"
            variables[name] = (f"{decl.name}Filter", {camel(attribute.name) + SUFFIX[op]: value})
            parts.append(f"filter: ${name}")
        return f"({', '.join(parts)})" if parts else ""

    def _cursor(self, draw: st.DrawFn, order: Attribute | None) -> str:
        ident = draw(st.integers(1, 12))
        if order is None or draw(st.integers(0, 4)) == 0:
            key: Any = draw(st.sampled_from((ident, "not a number")))
        else:
            key = sort_key(domain_value(order, draw(st.integers(0, 9)), self.keys))
        return Cursor(key, ident).encode()

    def connection(
        self, draw: st.DrawFn, decl: Declaration, depth: int, variables: dict[str, Any]
    ) -> str:
        parts = []
        if draw(st.booleans()):
            parts.append("totalCount")
        if draw(st.booleans()):
            parts.append(PAGE_INFO)
        if draw(st.booleans()) or not parts:
            node = self.selection(draw, decl, depth, variables)
            parts.append(f"edges {{ cursor node {{ {node} }} }}")
        return " ".join(parts)

    def _leaf(self, decl: Declaration, name: str, option: object) -> str:
        money = f"{camel(name)} {{ amount currency }}"
        if isinstance(option, Computed):
            _, kind = computed_expression(decl, name, option, self.by_name.get)
            return money if kind is ValueType.MONEY else camel(name)
        if isinstance(option, Declared) and decl.model.attribute(name).type is FieldType.MONEY:
            return money
        return camel(name)

    def selection(
        self, draw: st.DrawFn, decl: Declaration, depth: int, variables: dict[str, Any]
    ) -> str:
        leaves = ["id", "__typename"] + [
            self._leaf(decl, name, option)
            for name, option in decl.exposed.items()
            if not isinstance(option, Related)
        ]
        chosen = draw(st.lists(st.sampled_from(leaves), min_size=1, max_size=len(leaves)))
        parts = list(dict.fromkeys(chosen))
        for name, option in decl.exposed.items():
            if not isinstance(option, Related) or depth == 0 or not draw(st.booleans()):
                continue
            relation = option.relation
            target = self.by_name.get(relation.target)
            if relation.kind is RelationKind.MANY_TO_ONE:
                if target is None:
                    inner = " ".join(DEMO_LEAVES[relation.target])
                else:
                    inner = self.selection(draw, target, depth - 1, variables)
                parts.append(f"{camel(name)} {{ {inner} }}")
            elif target is not None:
                arguments = self.arguments(draw, target, variables, name)
                connection = self.connection(draw, target, depth - 1, variables)
                parts.append(f"{camel(name)}{arguments} {{ {connection} }}")
        return " ".join(parts)
