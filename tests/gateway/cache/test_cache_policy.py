"""The cache policy of an operation, from the hints of what it selects."""

from __future__ import annotations

import strawberry
from graphql import parse

from domain.caching import CacheHint, CacheScope
from gateway.graphql.response_cache import ResponseCache
from persistence.response_cache import MemoryResponseCacheStore
from schema import build_schema
from schema.cache_control import UNCACHEABLE, CachePolicy, cache_control, cache_hint, policy_of
from schema.node import Node
from tests.gateway.world import gid

GATEWAY = build_schema()._schema
PUBLIC_60 = CacheHint(60, CacheScope.PUBLIC)
PRIVATE_30 = CacheHint(30, CacheScope.PRIVATE)


def policy(query: str, operation: str | None = None, default: int = 0) -> CachePolicy:
    return policy_of(GATEWAY, parse(query), operation, default_max_age=default)


def test_a_connection_takes_its_node_types_hint_and_is_evicted_by_any_change_of_it() -> None:
    assert policy("{ items { totalCount edges { node { id price { amount } } } } }") == (
        CachePolicy(PUBLIC_60, frozenset({"Item"}))
    )


def test_an_entity_selected_by_id_is_tagged_by_its_id_argument_only() -> None:
    assert policy("query($id: ID!) { item(id: $id) { id name } }") == CachePolicy(
        PUBLIC_60, frozenset(), id_variables=frozenset({"id"})
    )
    literal = gid("Item", 2)
    assert policy(f'{{ item(id: "{literal}") {{ name }} }}') == CachePolicy(
        PUBLIC_60, frozenset({"Item"}), id_literals=frozenset({literal})
    )


def test_the_smallest_max_age_wins_and_private_wins() -> None:
    assert policy("{ items { totalCount } me { id name } }") == CachePolicy(
        PRIVATE_30, frozenset({"Item"})
    )


def test_entities_inside_a_listed_entity_are_named_by_their_ids() -> None:
    query = "{ orders { edges { node { id lines { quantity item { id name } } } } } }"
    assert policy(query) == CachePolicy(PRIVATE_30, frozenset({"Order"}))
    without_ids = "{ orders { edges { node { status lines { item { name } } } } } }"
    assert policy(without_ids) == CachePolicy(PRIVATE_30, frozenset({"Order", "Item"}))


def test_an_interface_takes_the_strictest_hint_of_its_members() -> None:
    assert policy('query { node(id: "x") { id } }') == CachePolicy(
        PRIVATE_30, frozenset(), id_literals=frozenset({"x"})
    )


def test_fragments_count_as_selected() -> None:
    query = """
      query Q { items { edges { node { ...Parts } } } }
      fragment Parts on Item { id owner: name }
    """
    assert policy(query, "Q") == CachePolicy(PUBLIC_60, frozenset({"Item"}))


def test_mutations_introspection_and_typename_are_never_cached() -> None:
    assert policy('mutation { deleteItem(id: "x") { deletedId } }') == UNCACHEABLE
    assert policy("{ __schema { queryType { name } } }") == UNCACHEABLE
    assert policy("{ __typename }") == UNCACHEABLE
    assert policy("query A { items { totalCount } } query B { me { id } }", "C") == UNCACHEABLE


def _one() -> int:
    return 1


@cache_control(max_age=300)
@strawberry.type
class Book(Node):
    title: str
    stock: int = strawberry.field(resolver=_one, metadata=cache_hint(5))


@strawberry.type
class Pamphlet(Node):  # an entity without a hint
    text: str


@strawberry.type
class Shelf:
    label: str
    books: list[Book]
    pamphlet: Pamphlet | None = None


def _shelf() -> Shelf:
    return Shelf(label="a", books=[])


def _motto() -> str:
    return "read"


def _pamphlet() -> Pamphlet:
    return Pamphlet(id=strawberry.ID("1"), text="x")


@strawberry.type
class Library:
    shelf: Shelf = strawberry.field(resolver=_shelf, metadata=cache_hint(120, CacheScope.PRIVATE))
    motto: str = strawberry.field(resolver=_motto)
    pamphlet: Pamphlet = strawberry.field(resolver=_pamphlet, metadata=cache_hint(120))


SMALL = strawberry.Schema(query=Library)._schema


def small(query: str, default: int = 0) -> CacheHint | None:
    return policy_of(SMALL, parse(query), None, default_max_age=default).hint


def test_field_hints_override_and_types_without_hints_inherit() -> None:
    assert small("{ shelf { label } }") == CacheHint(120, CacheScope.PRIVATE)
    assert small("{ shelf { label books { id title } } }") == CacheHint(120, CacheScope.PRIVATE)
    assert small("{ shelf { books { id stock } } }") == CacheHint(5, CacheScope.PRIVATE)


def test_a_root_field_or_an_entity_without_a_hint_gets_the_default() -> None:
    assert small("{ shelf { label } motto }") == CacheHint(0, CacheScope.PRIVATE)
    assert small("{ motto }", default=10) == CacheHint(10)
    # An entity without a hint of its own does not inherit its parent's: the default.
    assert small("{ shelf { pamphlet { id text } } }") == CacheHint(0, CacheScope.PRIVATE)
    assert small("{ shelf { pamphlet { id } } }", default=7) == CacheHint(7, CacheScope.PRIVATE)
    # Unless the field that returns it says otherwise.
    assert small("{ pamphlet { id text } }") == CacheHint(120)


def test_fragments_that_fan_out_are_walked_once_each() -> None:
    # 2^40 paths through the fragments; each selection set is looked at once.
    fragments = "\n".join(
        f"fragment F{n} on Item {{ ...F{n + 1} ...F{n + 1} name }}" for n in range(40)
    )
    query = f"{{ items {{ edges {{ node {{ id ...F0 }} }} }} }}\n{fragments}\n"
    query += "fragment F40 on Item { stock }"
    assert policy(query) == CachePolicy(PUBLIC_60, frozenset({"Item"}))


def test_a_document_nested_past_the_stack_is_not_cached() -> None:
    level = "orders { edges { node { customer { "
    query = "{ me { " + level * 400 + "id" + " } } } }" * 400 + " } }"
    cache = ResponseCache(
        GATEWAY, MemoryResponseCacheStore(), max_tokens=100_000, max_document_chars=10**6
    )
    assert cache.policy(query, None) == UNCACHEABLE
    shallow = "{ me { " + level * 2 + "id" + " } } } }" * 2 + " } }"
    assert cache.policy(shallow, None) == CachePolicy(PRIVATE_30, frozenset({"Order", "User"}))
