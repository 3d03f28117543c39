"""What `gateway new entity` is asked for, checked before anything is written.

    parse_spec("Supplier", ["name:str", "email:email?", "manager:ref:User"], "staff", known)

Every refusal is a `ScaffoldError` whose message is one line naming the culprit: a
reserved word (Python keywords, GraphQL's reserved names, the names every entity
already has such as `id`), an entity or type that already exists, a field given
twice or colliding with a stored column, an unknown field type, a reference to a
missing entity, an unknown owner role.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "FIELD_KINDS",
    "EntitySpec",
    "FieldKind",
    "FieldSpec",
    "Known",
    "ScaffoldError",
    "parse_spec",
    "pluralize",
    "snake_case",
]


class ScaffoldError(Exception):
    """A scaffold request refused; the message is one line naming the culprit."""


@dataclass(frozen=True, slots=True)
class FieldKind:
    """One field type of the command line: how the domain holds it and how it is exposed.

    `annotation` is the Python type of the domain attribute; `filters` the name of the
    `domain.model` filter set its connection offers (None: not filterable).
    """

    name: str
    annotation: str
    description: str
    filters: str | None
    orderable: bool


FIELD_KINDS: dict[str, FieldKind] = {
    kind.name: kind
    for kind in (
        FieldKind("str", "str", "short text, at most 200 characters", "TEXT_FILTERS", True),
        FieldKind("text", "str", "long text", "TEXT_FILTERS", False),
        FieldKind("int", "int", "a 64-bit integer", "RANGE_FILTERS", True),
        FieldKind("bool", "bool", "true or false", "EQUALITY", False),
        FieldKind("decimal", "Decimal", "an exact decimal number", "RANGE_FILTERS", True),
        FieldKind("money", "Money", "an amount in cents and a currency", None, False),
        FieldKind("email", "Email", "an email address, stored lower-case", "EQUALITY", True),
        FieldKind("datetime", "datetime", "a timezone-aware UTC instant", "RANGE_FILTERS", True),
        FieldKind("ref", "int", "the id of another entity", "EQUALITY", False),
    )
}
_KNOWN_TYPES = ", ".join(f"{t}:<Entity>" if t == "ref" else t for t in FIELD_KINDS)

# Fields every scaffolded entity has, or that the declared type inherits.
BUILT_IN_FIELDS = frozenset({"id", "created_at"})
# Names the generated modules bind at their top (a field of the same name would shadow
# them inside the class bodies) and names a dataclass `__init__` cannot take.
GENERATED_NAMES = frozenset(
    {"annotations", "auto", "dataclass", "field", "datetime", "declared", "entity"}
    | {"many_to_one", "self", "cls"}
)
# GraphQL's own type names, and the operation roots every schema has.
GRAPHQL_RESERVED_TYPES = frozenset(
    {"String", "Int", "Float", "Boolean", "ID", "Query", "Mutation", "Subscription"}
)

# Longer names make generated lines and constraint names unwieldy; PostgreSQL cuts
# identifiers at 63 bytes, and a foreign key's name joins table, column and target.
MAX_NAME_LENGTH = 40
MAX_IDENTIFIER_LENGTH = 63

_ENTITY_NAME = re.compile(r"[A-Z][a-z0-9]*(?:[A-Z][a-z0-9]*)*")
# snake_case without double or trailing underscores, so the GraphQL (camelCase) name
# of a field maps back to exactly one Python name.
_FIELD_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


@dataclass(frozen=True, slots=True)
class Known:
    """What the project already has, which a new entity must not clash with."""

    entities: frozenset[str]  # types implementing Node: what `ref:` may name
    types: frozenset[str]  # every GraphQL type name of the current schema
    tables: frozenset[str]
    roles: frozenset[str]
    node_fields: frozenset[str] = frozenset()  # names the declared type's base defines
    entity_tables: Mapping[str, str] = field(default_factory=dict)  # entity -> its table


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One requested field: `name:type` (`?` after the type: may be null)."""

    name: str
    kind: FieldKind
    nullable: bool = False
    target: str | None = None  # the entity a `ref` names

    @property
    def attribute(self) -> str:
        """The domain attribute (and column) holding the value: `manager_id` for a ref."""
        return f"{self.name}_id" if self.target is not None else self.name

    @property
    def columns(self) -> tuple[str, ...]:
        if self.kind.name == "money":
            return (f"{self.name}_cents", f"{self.name}_currency")
        return (self.attribute,)


@dataclass(frozen=True, slots=True)
class EntitySpec:
    """A checked request: the entity's names in every layer, its fields, its owner."""

    name: str
    plural: str
    fields: tuple[FieldSpec, ...]
    owner: str

    @property
    def module(self) -> str:
        """The module name in `domain/` and `schema/declarations/` (`suppliers`)."""
        return snake_case(self.plural)

    @property
    def table(self) -> str:
        return snake_case(self.plural)

    @property
    def resource(self) -> str:
        """The permission resource: `suppliers:read`, `suppliers:write`."""
        return snake_case(self.plural)


def snake_case(name: str) -> str:
    """`SupplierContact` -> `supplier_contact`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def pluralize(name: str) -> str:
    """The English plural of a noun, for the common cases (`--plural` for the rest)."""
    if re.search(r"[^aeiouAEIOU]y$", name):
        return name[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", name):
        return name + "es"
    return name + "s"


def _check_entity_name(name: str, plural: str, known: Known) -> None:
    if keyword.iskeyword(name):
        raise ScaffoldError(f"entity name {name!r} is a Python keyword")
    if not _ENTITY_NAME.fullmatch(name):
        raise ScaffoldError(f"entity name {name!r} must be PascalCase (like Supplier)")
    if len(name) > MAX_NAME_LENGTH:
        raise ScaffoldError(f"entity name {name!r} is longer than {MAX_NAME_LENGTH} characters")
    if name in GRAPHQL_RESERVED_TYPES or name == "Node":
        raise ScaffoldError(f"entity name {name!r} is reserved by GraphQL")
    if name in known.entities:
        raise ScaffoldError(f"entity {name!r} already exists")
    if name in known.types:
        raise ScaffoldError(f"entity name {name!r} is already a GraphQL type of the schema")
    if not _ENTITY_NAME.fullmatch(plural) or plural == name:
        raise ScaffoldError(f"plural {plural!r} must be PascalCase and differ from {name!r}")
    if snake_case(plural) in known.tables:
        raise ScaffoldError(f"table {snake_case(plural)!r} already exists")


def _parse_field(text: str, entity: str, known: Known) -> FieldSpec:
    name, sep, type_text = text.partition(":")
    if not sep or not type_text:
        raise ScaffoldError(f"field {text!r} must be name:type (types: {_KNOWN_TYPES})")
    if keyword.iskeyword(name):
        raise ScaffoldError(f"field {name!r} is a Python keyword")
    if not _FIELD_NAME.fullmatch(name):
        raise ScaffoldError(f"field {name!r} must be snake_case (like unit_price)")
    if len(name) > MAX_NAME_LENGTH:
        raise ScaffoldError(f"field {name!r} is longer than {MAX_NAME_LENGTH} characters")
    if name in BUILT_IN_FIELDS | known.node_fields:
        raise ScaffoldError(f"field {name!r} is reserved: every entity has it")
    if name in GENERATED_NAMES:
        raise ScaffoldError(f"field {name!r} is reserved: the generated code uses that name")
    nullable = type_text.endswith("?")
    type_text = type_text.removesuffix("?")
    type_name, _, target = type_text.partition(":")
    kind = FIELD_KINDS.get(type_name)
    if kind is None or (type_name == "ref") != bool(target):
        raise ScaffoldError(f"field {name!r}: unknown type {type_text!r} (types: {_KNOWN_TYPES})")
    if kind.name != "ref":
        return FieldSpec(name, kind, nullable)
    if target != entity and target not in known.entities:
        shown = ", ".join(sorted(known.entities))
        raise ScaffoldError(f"field {name!r}: ref:{target} names no entity (entities: {shown})")
    return FieldSpec(name, kind, nullable, target)


def _check_collisions(fields: Iterable[FieldSpec]) -> None:
    taken: dict[str, str] = {}
    for spec in fields:
        for name in dict.fromkeys((spec.name, *spec.columns)):
            if name in taken:
                other = taken[name]
                raise ScaffoldError(
                    f"field {spec.name!r} given twice"
                    if other == spec.name
                    else f"field {spec.name!r} collides with field {other!r} on {name!r}"
                )
            taken[name] = spec.name


def _check_identifiers(table: str, fields: Iterable[FieldSpec], known: Known) -> None:
    for spec in fields:
        names = list(spec.columns)
        if spec.target is not None:
            target = (  # a reference to no known entity is to this one (checked above)
                known.entity_tables.get(spec.target, snake_case(spec.target) + "s")
                if spec.target in known.entities
                else table
            )
            names += [f"ix_{table}_{spec.attribute}", f"fk_{table}_{spec.attribute}_{target}"]
        for name in names:
            if len(name) > MAX_IDENTIFIER_LENGTH:
                raise ScaffoldError(
                    f"field {spec.name!r}: the database name {name!r} is longer than "
                    f"{MAX_IDENTIFIER_LENGTH} characters (PostgreSQL's limit); shorten the "
                    "field or the entity"
                )


def parse_spec(
    name: str,
    fields: Sequence[str],
    owner: str,
    known: Known,
    *,
    plural: str | None = None,
) -> EntitySpec:
    """Check a scaffold request against the project; raises ScaffoldError (one line)."""
    chosen_plural = plural or pluralize(name)
    _check_entity_name(name, chosen_plural, known)
    if owner not in known.roles:
        shown = ", ".join(sorted(known.roles))
        raise ScaffoldError(f"owner {owner!r} is not a role (roles: {shown})")
    if not fields:
        raise ScaffoldError(f"entity {name!r} needs at least one field (name:type)")
    parsed = tuple(_parse_field(text, name, known) for text in fields)
    _check_collisions(parsed)
    spec = EntitySpec(name, chosen_plural, parsed, owner)
    _check_identifiers(spec.table, parsed, known)
    return spec
