"""Operation limits, counted on the fragment-expanded operation, against the schema."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import pytest
from graphql import (
    GraphQLObjectType,
    get_introspection_query,
    get_named_type,
    is_leaf_type,
    is_non_null_type,
    parse,
    validate,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strawberry.extensions import max_aliases

from schema import SchemaOptions, build_schema
from schema.cost import operation_cost
from schema.input_limits import InputLimits
from schema.limits import Limits, Shape, limits_rule, operation_shapes

SCHEMA = build_schema()
STRICT = build_schema(SchemaOptions(introspection=False, suggestions=False))

NESTED = (
    "{ users(first: 50) { edges { node { name orders(first: 10) { totalCount edges { node {"
    " status total { amount } lines { quantity item { name } } } } } } } } }"
)


def shapes(text: str) -> list[Shape]:
    return [shape for _, shape in operation_shapes(parse(text))]


async def errors_of(text: str, schema: Any = SCHEMA, **kwargs: Any) -> list[dict[str, Any]]:
    result = await schema.execute(text, **kwargs)
    assert result.data is None
    return [error.formatted for error in result.errors or []]


def fan_out(levels: int, leaf: str) -> str:
    """F0 spreads F1 twice, F1 spreads F2 twice, ...: 2^levels copies of the leaf."""
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    return "\n".join(["{ ...F0 }", *fragments, f"fragment F{levels} on Query {{ {leaf} }}"])


# The cost, by hand: a leaf is 1; a field is 1 + multiplier x its selection.
def test_the_cost_multiplies_by_page_sizes_and_line_weight() -> None:
    line = 1 + (1 + 1)  # quantity, item { name }
    order = 1 + (1 + 1) + (1 + 5 * line)  # status, total { amount }, lines x 5
    orders = 1 + 10 * (1 + (1 + (1 + order)))  # totalCount, edges { node }
    user = 1 + orders  # name, orders
    assert operation_cost(SCHEMA, parse(NESTED)) == 1 + 50 * (1 + (1 + user))
    assert operation_cost(SCHEMA, parse(NESTED)) == 11_201


def test_page_sizes_come_from_variables_then_defaults_and_are_clamped() -> None:
    query = "query($n: Int = 7) { items(first: $n) { edges { node { name } } } }"
    per_page = 1 + (1 + 1)  # edges { node { name } }
    assert operation_cost(SCHEMA, parse(query), {"n": 3}) == 1 + 3 * per_page
    assert operation_cost(SCHEMA, parse(query), {}) == 1 + 7 * per_page
    assert operation_cost(SCHEMA, parse(query), {"n": 10_000}) == 1 + 100 * per_page
    assert operation_cost(SCHEMA, parse(query), {"n": "many"}) == 1 + 20 * per_page
    default = "{ me { orders { edges { node { id } } } } }"
    assert operation_cost(SCHEMA, parse(default)) == 1 + (1 + 10 * (1 + (1 + 1)))


def test_the_selected_operation_is_priced() -> None:
    document = parse("query A { items(first: 1) { totalCount } } query B { __typename }")
    assert operation_cost(SCHEMA, document, None, "A") == 2
    assert operation_cost(SCHEMA, document, None, "B") == 1
    assert operation_cost(SCHEMA, document, None, "C") == 0


def test_every_documented_query_fits_the_default_limits() -> None:
    documented = [
        NESTED,
        "{ items(first: 2, orderBy: {field: PRICE, direction: ASC}, filter: {inStock: true})"
        " { totalCount edges { node { sku name price { amount currency } stock } }"
        " pageInfo { hasNextPage endCursor } } }",
        "{ me { name orders(first: 2) { totalCount edges { node { status total { amount }"
        " lines { quantity item { name } } } } } } }",
        get_introspection_query(descriptions=True),
    ]
    rule = limits_rule(Limits())
    for text in documented:
        assert validate(SCHEMA._schema, parse(text), [rule]) == []
        assert operation_cost(SCHEMA, parse(text)) <= Limits().max_cost


async def test_the_cost_is_reported_in_the_extensions() -> None:
    result = await SCHEMA.execute("{ __typename }")
    assert result.data == {"__typename": "Query"}
    assert result.extensions == {"cost": {"requested": 1, "limit": 25_000}}


async def test_each_limit_is_refused_with_its_code() -> None:
    schema = build_schema(
        SchemaOptions(max_depth=2, max_aliases=1, max_directives=1, max_root_fields=2)
    )
    text = (
        "{ a: me { orders { totalCount } } b: __typename @include(if: true)"
        " c: __typename @skip(if: false) }"
    )
    located = [{"line": 1, "column": 1}]
    assert await errors_of(text, schema) == [
        {
            "message": "operation depth 3 exceeds the limit of 2",
            "locations": located,
            "extensions": {"code": "MAX_DEPTH_EXCEEDED", "limit": 2, "value": 3},
        },
        {
            "message": "operation alias count 3 exceeds the limit of 1",
            "locations": located,
            "extensions": {"code": "MAX_ALIASES_EXCEEDED", "limit": 1, "value": 3},
        },
        {
            "message": "operation directive count 2 exceeds the limit of 1",
            "locations": located,
            "extensions": {"code": "MAX_DIRECTIVES_EXCEEDED", "limit": 1, "value": 2},
        },
        {
            "message": "operation root field count 3 exceeds the limit of 2",
            "locations": located,
            "extensions": {"code": "MAX_ROOT_FIELDS_EXCEEDED", "limit": 2, "value": 3},
        },
    ]


async def test_a_cost_bomb_is_refused_before_anything_runs() -> None:
    schema = build_schema(SchemaOptions(max_depth=20))
    bomb = (
        "{ orders(first: 100) { edges { node { customer { orders(first: 100) { edges { node {"
        " customer { orders(first: 100) { edges { node { customer { orders(first: 100) {"
        " totalCount } } } } } } } } } } } } } }"
    )
    cost = operation_cost(schema, parse(bomb))
    innermost = 1 + 100 * 1  # orders(first: 100) { totalCount }
    # orders(first: 100) { edges { node { customer { <inner> } } } }: 1 + 100 x (3 + inner)
    assert cost == 1 + 100 * (3 + 1 + 100 * (3 + 1 + 100 * (3 + innermost)))
    result = await schema.execute(bomb)
    assert (result.data, [e.formatted for e in result.errors or []]) == (
        None,
        [
            {
                "message": f"operation cost {cost} exceeds the limit of 25000",
                "extensions": {"code": "MAX_COST_EXCEEDED", "limit": 25_000, "value": cost},
            }
        ],
    )
    assert result.extensions == {"cost": {"requested": cost, "limit": 25_000}}


async def test_a_token_bomb_is_refused_with_its_code() -> None:
    # Short tokens: under the document length limit (15,000 characters), over 5,000 tokens.
    bomb = "{ " + "a " * 5_001 + "}"
    assert await errors_of(bomb) == [
        {
            "message": "document token count exceeds the limit of 5000",
            # `{` is the first token: the parser stops at the 5000th `a`.
            "locations": [{"line": 1, "column": 3 + 4999 * 2}],
            "extensions": {"code": "MAX_TOKENS_EXCEEDED", "limit": 5000},
        }
    ]


async def test_a_thousand_directives_are_refused() -> None:
    schema = build_schema(
        SchemaOptions(max_tokens=20_000, input_limits=InputLimits(max_document_chars=100_000))
    )
    bomb = "{ me { " + "name @include(if: true) " * 1000 + "} }"
    assert await errors_of(bomb, schema) == [
        {
            "message": "operation directive count 1000 exceeds the limit of 50",
            "locations": [{"line": 1, "column": 1}],
            "extensions": {"code": "MAX_DIRECTIVES_EXCEEDED", "limit": 50, "value": 1000},
        },
        # graphql-core's own guard: comparing 1000 same-named fields for merging
        # exhausts its complexity budget.
        {"message": "Validation aborted.", "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}},
    ]


async def test_aliases_multiplied_by_fragment_spreads_are_counted() -> None:
    text = "{ ...A ...A ...A } fragment A on Query { x: __typename y: __typename ...B ...B }"
    text += " fragment B on Query { z: __typename }"
    assert shapes(text) == [Shape(depth=1, aliases=12, directives=0, fields=12)]
    assert await errors_of(text, build_schema(SchemaOptions(max_aliases=11))) == [
        {
            "message": "operation alias count 12 exceeds the limit of 11",
            "locations": [{"line": 1, "column": 1}],
            "extensions": {"code": "MAX_ALIASES_EXCEEDED", "limit": 11, "value": 12},
        }
    ]


def test_strawberrys_alias_limiter_walks_every_path_through_fragments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # It counts right (each spread counts again) but walks every expanded path: the
    # work doubles with each fragment level, so a 400-token document (30 levels)
    # keeps a worker busy for hours. That is why our rule replaces it.
    calls = count()
    original = max_aliases.count_fields_with_alias

    def counting(*args: Any, **kwargs: Any) -> int:
        next(calls)
        return original(*args, **kwargs)

    monkeypatch.setattr(max_aliases, "count_fields_with_alias", counting)
    rule = max_aliases.create_validator(30)
    errors = validate(SCHEMA._schema, parse(fan_out(10, "a: __typename")), [rule])
    assert [e.message for e in errors] == ["1024 aliases found. Allowed: 30"]
    assert next(calls) == (2**11 - 1) + 1  # each of the 2^11 - 1 expanded spreads, the operation


async def test_fragment_fan_out_is_counted_without_expanding_it() -> None:
    # 2^60 aliases in a 700-token document: answered at once, and exactly.
    errors = await asyncio.wait_for(errors_of(fan_out(60, "a: __typename")), timeout=5)
    assert errors == [
        {
            "message": f"operation alias count {2**53 - 1} exceeds the limit of 30",
            "locations": [{"line": 1, "column": 1}],
            "extensions": {"code": "MAX_ALIASES_EXCEEDED", "limit": 30, "value": 2**53 - 1},
        },
        {
            "message": f"operation root field count {2**53 - 1} exceeds the limit of 20",
            "locations": [{"line": 1, "column": 1}],
            "extensions": {"code": "MAX_ROOT_FIELDS_EXCEEDED", "limit": 20, "value": 2**53 - 1},
        },
    ]
    assert shapes(fan_out(40, "a: __typename")) == [Shape(1, 2**40, 0, 2**40)]


def test_fragment_cycles_and_long_chains_end() -> None:
    cycle = "{ ...A } fragment A on Query { a: __typename ...B } fragment B on Query { ...A }"
    assert shapes(cycle) in ([Shape(1, 1, 0, 1)], [Shape(0, 0, 0, 0)])
    assert operation_cost(SCHEMA, parse(cycle)) in (0, 1)
    chain = "\n".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(2000))
    chain = "{ ...F0 }\n" + chain + "\nfragment F2000 on Query { __typename }"
    assert shapes(chain) == [Shape(1, 0, 0, 1)]
    assert operation_cost(SCHEMA, parse(chain)) == 1


async def test_introspection_off_refuses_schema_and_type_but_keeps_typename() -> None:
    refused = "introspection has been disabled, but the requested query contained the field"
    assert await errors_of("{ __schema { __typename } }", STRICT) == [
        {
            "message": f"GraphQL {refused} '__schema'.",
            "locations": [{"line": 1, "column": 3}],
            "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
        },
    ]
    assert await errors_of('{ __type(name: "User") { __typename } }', STRICT) == [
        {
            "message": f"GraphQL {refused} '__type'.",
            "locations": [{"line": 1, "column": 3}],
            "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
        },
    ]
    kept = await STRICT.execute("{ __typename }")
    assert (kept.data, kept.errors) == ({"__typename": "Query"}, None)


async def test_suggestions_are_given_in_dev_and_withheld_when_switched_off() -> None:
    query = "query($s: OrderStatus!) { itemz orders(filter: {status: $s}) { totalCount } }"
    location = {"line": 1, "column": 27}
    assert await errors_of(query, SCHEMA) == [
        {
            "message": "Cannot query field 'itemz' on type 'Query'."
            " Did you mean 'item' or 'items'?",
            "locations": [location],
            "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
        }
    ]
    assert await errors_of(query, STRICT) == [
        {
            "message": "Cannot query field 'itemz' on type 'Query'.",
            "locations": [location],
            "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
        }
    ]
    variables = {"s": "PAYED"}
    coerced = "query($s: OrderStatus!) { orders(filter: {status: $s}) { totalCount } }"
    hidden = await errors_of(coerced, STRICT, variable_values=variables)
    shown = await errors_of(coerced, SCHEMA, variable_values=variables)
    invalid = "Variable '$s' has invalid value: Value 'PAYED' does not exist in 'OrderStatus' enum."
    assert [error["message"] for error in shown] == [
        invalid + " Did you mean the enum value 'PAID' or 'PLACED'?"
    ]
    assert hidden == [{**shown[0], "message": invalid}]


# Property: fragments hide nothing. A random operation over the schema is written twice,
# once with every selection inlined (repeats written out) and once with parts moved into
# inline fragments and (nested, repeatedly spread) named fragments.


@dataclass
class Field:
    name: str
    alias: str | None = None
    first: int | None = None
    directives: int = 0
    children: list[Field | Group] | None = None


@dataclass
class Group:
    type_name: str
    items: list[Field | Group]
    repeat: int
    named: bool


@dataclass
class Writer:
    fragments: list[str] = field(default_factory=list)

    def inlined(self, items: list[Field | Group]) -> str:
        parts: list[str] = []
        for item in items:
            if isinstance(item, Group):
                parts.extend([self.inlined(item.items)] * item.repeat)
            else:
                parts.append(self.field(item, self.inlined))
        return " ".join(parts)

    def fragmented(self, items: list[Field | Group]) -> str:
        parts: list[str] = []
        for item in items:
            if isinstance(item, Field):
                parts.append(self.field(item, self.fragmented))
            elif item.named:
                name = f"F{len(self.fragments)}"
                self.fragments.append("")
                body = self.fragmented(item.items)
                self.fragments[int(name[1:])] = f"fragment {name} on {item.type_name} {{ {body} }}"
                parts.extend([f"...{name}"] * item.repeat)
            else:
                inner = f"... on {item.type_name} {{ {self.fragmented(item.items)} }}"
                parts.extend([inner] * item.repeat)
        return " ".join(parts)

    @staticmethod
    def field(item: Field, write: Any) -> str:
        text = f"{item.alias}: {item.name}" if item.alias else item.name
        if item.first is not None:
            text += f"(first: {item.first})"
        text += " @include(if: true)" * item.directives
        if item.children is not None:
            text += f" {{ {write(item.children)} }}"
        return text


def _selectable(type_: GraphQLObjectType) -> list[str]:
    return sorted(
        name
        for name, definition in type_.fields.items()
        if not any(is_non_null_type(arg.type) for arg in definition.args.values())
        and (
            is_leaf_type(get_named_type(definition.type))
            or isinstance(get_named_type(definition.type), GraphQLObjectType)
        )
    )


@st.composite
def selections(draw: st.DrawFn, type_name: str, depth: int) -> list[Field | Group]:
    type_ = SCHEMA._schema.get_type(type_name)
    assert isinstance(type_, GraphQLObjectType)
    items: list[Field | Group] = []
    for name in draw(st.lists(st.sampled_from(_selectable(type_)), min_size=1, max_size=3)):
        definition = type_.fields[name]
        child = get_named_type(definition.type)
        if isinstance(child, GraphQLObjectType) and depth == 0:
            continue
        item = Field(
            name,
            alias=draw(st.sampled_from([None, f"a{name}"])),
            first=draw(st.none() | st.integers(0, 150)) if "first" in definition.args else None,
            directives=draw(st.integers(0, 2)),
            children=(
                draw(selections(child.name, depth - 1))
                if isinstance(child, GraphQLObjectType)
                else None
            ),
        )
        items.append(item)
    if not items:
        items.append(Field("__typename"))
    if draw(st.booleans()):
        grouped = draw(st.integers(1, len(items)))
        group = Group(type_name, items[:grouped], draw(st.integers(1, 3)), draw(st.booleans()))
        items = [group, *items[grouped:]]
    return items


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(selections("Query", depth=5))
def test_fragments_hide_no_depth_aliases_directives_or_cost(items: list[Field | Group]) -> None:
    inlined = "{ " + Writer().inlined(items) + " }"
    writer = Writer()
    body = writer.fragmented(items)
    fragmented = "\n".join([f"{{ {body} }}", *writer.fragments])
    assert shapes(fragmented) == shapes(inlined)
    assert operation_cost(SCHEMA, parse(fragmented)) == operation_cost(SCHEMA, parse(inlined))
    rule = limits_rule(Limits(max_depth=4, max_aliases=3, max_directives=3, max_root_fields=3))
    refusals = [e.message for e in validate(SCHEMA._schema, parse(inlined), [rule])]
    assert [e.message for e in validate(SCHEMA._schema, parse(fragmented), [rule])] == refusals
