"""Cache hints on types and fields, and the cache policy of an operation, after Apollo's
`@cacheControl`.

A hint says how long a value may be reused (`max_age`, seconds) and by whom (`PUBLIC`:
every caller with the same roles; `PRIVATE`: only the caller it was computed for).
Hints are metadata, not schema directives: they do not change the committed SDL.

- On a type: `@cache_control(max_age=60)` above `@strawberry.type`.
- On a field: `strawberry.field(metadata=cache_hint(max_age=5))`.

The policy of an operation is computed from what it selects (`policy_of`): the
smallest `max_age` of every selected field and `PRIVATE` if any is. A field's hint is
its own, else its type's (a connection takes its node type's, an interface the
smallest of its implementations'); a field with neither inherits its parent's, except
a root field and an entity (a `Node` type), which get `default_max_age` (0 unless
configured: not cached). Mutations, subscriptions and anything that is not a query
are never cached; neither is an answer with errors (the transport's concern).

`policy_of` also says which cached answers a change must evict: the entity types
listed (a connection or a list of entities changes when any of them does) or selected
without their `id` (so the answer cannot name the objects it holds), and the `id`
arguments (an answer about an object that was null may not be null after a change).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLAbstractType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    get_named_type,
    is_abstract_type,
    is_composite_type,
)
from graphql.type.definition import GraphQLField, GraphQLOutputType

from domain.caching import CacheHint, CacheScope
from domain.errors import ValidationError
from schema.node import parse_global_id

CACHE_HINT = "cache_hint"
"""The key of a field's hint in `strawberry.field(metadata=...)`."""
_TYPE_HINT = "__cache_hint__"
_NODE = "Node"
__all__ = ["CacheHint", "CachePolicy", "CacheScope", "cache_control", "cache_hint", "policy_of"]

T = TypeVar("T")


def cache_control(max_age: int, scope: CacheScope = CacheScope.PUBLIC) -> Any:
    """Class decorator: the hint of a Strawberry type (put it above `@strawberry.type`)."""
    hint = CacheHint(max_age, scope)

    def apply(cls: type[T]) -> type[T]:
        setattr(cls, _TYPE_HINT, hint)
        return cls

    return apply


def cache_hint(max_age: int, scope: CacheScope = CacheScope.PUBLIC) -> dict[str, Any]:
    """Field metadata carrying a hint: `strawberry.field(metadata=cache_hint(5))`."""
    return {CACHE_HINT: CacheHint(max_age, scope)}


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """What an operation's answer may be cached as, and what evicts it."""

    # None: not a query, or some selected field has no hint (the default applies: 0).
    hint: CacheHint | None
    # Entity types whose every change evicts the answer (listed, or selected without id).
    type_tags: frozenset[str] = frozenset()
    # `id` arguments: literal global ids, and the names of variables holding one.
    id_literals: frozenset[str] = frozenset()
    id_variables: frozenset[str] = frozenset()

    @property
    def cacheable(self) -> bool:
        return self.hint is not None and self.hint.max_age > 0

    def tags(self, variables: Mapping[str, Any] | None) -> set[str]:
        """The type tags and the `Type:key` tags of the `id` arguments given."""
        found = set(self.type_tags)
        values = list(self.id_literals)
        values.extend(
            value
            for name in self.id_variables
            if isinstance(value := (variables or {}).get(name), str)
        )
        for value in values:
            tag = entity_tag(value)
            if tag is not None:
                found.add(tag)
        return found


UNCACHEABLE = CachePolicy(None)


def entity_tag(value: str) -> str | None:
    """`Item:7` for the global id of Item 7; None for anything else."""
    if not 4 <= len(value) <= 96:  # global ids are short; skip decoding long strings
        return None
    try:
        type_name, key = parse_global_id(value)
    except ValidationError:
        return None
    return f"{type_name}:{key}"


def entity_tags(data: object) -> set[str]:
    """The `Type:key` tags of every global id in an answer's data (aliased ids included)."""
    found: set[str] = set()
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            tag = entity_tag(value)
            if tag is not None:
                found.add(tag)
    return found


def type_hint(graphql_type: object) -> CacheHint | None:
    """The hint declared on a Strawberry type (None without one)."""
    extensions = getattr(graphql_type, "extensions", None) or {}
    definition = extensions.get("strawberry-definition")
    origin = getattr(definition, "origin", None)
    hint = getattr(origin, _TYPE_HINT, None)
    return hint if isinstance(hint, CacheHint) else None


def field_hint(graphql_field: GraphQLField) -> CacheHint | None:
    definition = (graphql_field.extensions or {}).get("strawberry-definition")
    hint = (getattr(definition, "metadata", None) or {}).get(CACHE_HINT)
    return hint if isinstance(hint, CacheHint) else None


@dataclass
class _Walk:
    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    default: CacheHint
    hint: CacheHint | None = None
    type_tags: set[str] = field(default_factory=set)
    id_literals: set[str] = field(default_factory=set)
    id_variables: set[str] = field(default_factory=set)
    unknown: bool = False
    visited: set[tuple[str, int, CacheHint | None, bool]] = field(default_factory=set)

    def restrict(self, hint: CacheHint) -> None:
        self.hint = hint if self.hint is None else self.hint.restrict(hint)

    def is_entity(self, named: object) -> bool:
        return isinstance(named, GraphQLObjectType) and any(
            i.name == _NODE for i in named.interfaces
        )

    def entities(self, named: object) -> list[GraphQLObjectType]:
        if isinstance(named, GraphQLObjectType):
            return [named] if self.is_entity(named) else []
        if is_abstract_type(named):
            possible = self.schema.get_possible_types(named)
            return [t for t in possible if self.is_entity(t)]
        return []

    def named_hint(self, named: object) -> CacheHint | None:
        """A type's hint; an abstract type's is the most restrictive of its members'."""
        own = type_hint(named)
        if own is not None or not is_abstract_type(named):
            return own
        members = self.schema.get_possible_types(named)
        hints = [hint for t in members if (hint := type_hint(t)) is not None]
        if not hints or len(hints) < len(members):
            return None  # a member without a hint: the default applies
        merged = hints[0]
        for hint in hints[1:]:
            merged = merged.restrict(hint)
        return merged

    def connection_node(self, named: object) -> object | None:
        """The node type of a Relay connection type (`edges { node }`), else None."""
        if not isinstance(named, GraphQLObjectType) or "edges" not in named.fields:
            return None
        edge = get_named_type(named.fields["edges"].type)
        if not isinstance(edge, GraphQLObjectType) or "node" not in edge.fields:
            return None
        node: object = get_named_type(edge.fields["node"].type)
        return node

    def fields(self, selections: SelectionSetNode, expanded: set[str]) -> Iterator[FieldNode]:
        """The fields of one level, through its fragments; each fragment expanded once
        per level (a fragment spread twice adds nothing, and fragments that fan out
        would otherwise be walked exponentially often)."""
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                yield from self.fields(selection.selection_set, expanded)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in expanded:
                    expanded.add(name)
                    yield from self.fields(fragment.selection_set, expanded)

    def visit(
        self,
        parent: GraphQLObjectType | GraphQLAbstractType,
        selections: SelectionSetNode,
        inherited: CacheHint | None,
        listed: bool,
    ) -> None:
        # A selection set reached again the same way adds nothing new.
        visit = (parent.name, id(selections), inherited, listed)
        if visit in self.visited:
            return
        self.visited.add(visit)
        nodes = list(self.fields(selections, set()))
        names = {node.name.value for node in nodes}
        for entity in self.entities(parent):
            if listed or "id" not in names:
                self.type_tags.add(entity.name)
        for node in nodes:
            name = node.name.value
            if name == "__typename":
                continue
            definition = self.lookup(parent, name)
            if definition is None:
                self.unknown = True
                continue
            self.arguments(node)
            self.field(definition, node, inherited, listed)

    def lookup(
        self, parent: GraphQLObjectType | GraphQLAbstractType, name: str
    ) -> GraphQLField | None:
        if isinstance(parent, GraphQLObjectType):
            found: GraphQLField | None = parent.fields.get(name)
            return found
        # An abstract parent: the field of its interface, or of one of its members.
        found = getattr(parent, "fields", {}).get(name)
        for member in self.schema.get_possible_types(parent):
            if found is None:
                found = member.fields.get(name)
        return found

    def arguments(self, node: FieldNode) -> None:
        for argument in node.arguments or ():
            if argument.name.value != "id":
                continue
            if isinstance(argument.value, StringValueNode):
                self.id_literals.add(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                self.id_variables.add(argument.value.name.value)

    def field(
        self,
        definition: GraphQLField,
        node: FieldNode,
        inherited: CacheHint | None,
        listed: bool,
    ) -> None:
        named = get_named_type(definition.type)
        node_type = self.connection_node(named)
        hint = field_hint(definition) or self.named_hint(named)
        if hint is None and node_type is not None:
            hint = self.named_hint(node_type)
        if hint is None and (inherited is None or self.entities(named)):
            # A root field, or an entity without a hint of its own: the default.
            hint = self.default
        effective = hint or inherited
        assert effective is not None  # the default covers inherited None
        self.restrict(effective)
        if node_type is not None:
            self.type_tags.update(t.name for t in self.entities(node_type))
        if node.selection_set is not None and is_composite_type(named):
            self.visit(
                named,
                node.selection_set,
                effective,
                # A list of entities changes when any entity of the type does; an entity
                # reached through it ends the list (its own fields are named by its id).
                (listed or _is_list(definition.type)) and not self.entities(named),
            )


def _is_list(graphql_type: GraphQLOutputType) -> bool:
    inner = graphql_type.of_type if isinstance(graphql_type, GraphQLNonNull) else graphql_type
    return isinstance(inner, GraphQLList)


def policy_of(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    *,
    default_max_age: int = 0,
) -> CachePolicy:
    """The cache policy of one operation of a (valid) document; UNCACHEABLE unless a query.

    Fields under `@skip`/`@include` count as selected: the policy of the larger
    selection is never less strict than that of the one executed.
    """
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation is not OperationType.QUERY:
        return UNCACHEABLE
    root = schema.query_type
    if root is None:
        return UNCACHEABLE
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walk = _Walk(schema, fragments, CacheHint(default_max_age))
    try:
        walk.visit(root, operations[0].selection_set, None, False)
    except RecursionError:  # nested past Python's stack: the depth limit refuses it anyway
        return UNCACHEABLE
    if walk.unknown or walk.hint is None:
        return UNCACHEABLE
    return CachePolicy(
        walk.hint,
        frozenset(walk.type_tags),
        frozenset(walk.id_literals),
        frozenset(walk.id_variables),
    )
