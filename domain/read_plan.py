"""The read plan: what one validated query asks for, with every decision already taken.

Framework-free on purpose (standard library and `domain` only): the GraphQL side
builds a plan (`schema.planner.compile`), the persistence side turns it into SQL
(`persistence.read_model`), and neither needs the other's library to read it.

Every selection carries its response key (alias or field name) and keeps the order
of the operation's fields, so the database can build the response in that order.
Field permissions are already settled here (`Null`, `Owned`); object-level
rules are named (a `Source`'s entity) and supplied per request as
specifications in a `Scope`.

Every entity is described by data alone (`Source`: its table, its columns and their
stored types, from its declaration), so the SQL side writes any entity's statement
without knowing the entity.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from domain.model import FieldType, Through
from domain.paging import PageRequest
from domain.specifications import Specification

# --- declared entities, as data ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    """One stored attribute: the name specifications and sorts use, its stored type,
    its columns (two for money: cents, then currency)."""

    name: str
    type: FieldType
    columns: tuple[str, ...]
    nullable: bool = False


@dataclass(frozen=True, slots=True)
class Source:
    """Where a declared entity's rows are: `entity` names its object-level rule."""

    entity: str
    table: str
    columns: tuple[Column, ...]
    sort_fields: frozenset[str]

    def column(self, name: str) -> Column:
        for candidate in self.columns:
            if candidate.name == name:
                return candidate
        raise KeyError(f"{self.entity} has no column {name}")


# --- leaves of an object -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stored:
    """A declared attribute's value, written as JSON by its stored type (null if NULL):
    text as a string, an integer, a boolean, a time as `isoformat()`, a reference as
    the global id of `column.type`'s target (`target`)."""

    key: str
    column: Column
    target: str | None = None


@dataclass(frozen=True, slots=True)
class Constant:
    """A JSON string known when planning (`__typename`)."""

    key: str
    text: str


@dataclass(frozen=True, slots=True)
class Null:
    """A field the caller may not read: null whatever the row (settled when planning)."""

    key: str


@dataclass(frozen=True, slots=True)
class GlobalId:
    key: str
    type_name: str


class MoneyPart(enum.Enum):
    AMOUNT = "amount"
    CURRENCY = "currency"
    TYPENAME = "__typename"


@dataclass(frozen=True, slots=True)
class Money:
    """A money object from a stored attribute's two columns."""

    key: str
    source: Column
    parts: tuple[tuple[str, MoneyPart], ...]


# --- computed values (`domain.expressions`, written as SQL) ------------------------------


@dataclass(frozen=True, slots=True)
class Times:
    """The product of the row's columns (at most one of them money: its currency)."""

    factors: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class Total:
    """The sum of `term` over the `source` rows the caller sees whose `column` holds
    this row's id; money in the first such row's currency (by id), else `currency`."""

    column: str
    source: Source
    term: Column | Times
    currency: str
    money: bool


@dataclass(frozen=True, slots=True)
class Computed:
    """A declared computed field's value: a number, or money with its selected `parts`."""

    key: str
    value: Column | Times | Total
    parts: tuple[tuple[str, MoneyPart], ...] | None


@dataclass(frozen=True, slots=True)
class Owned:
    """A field read only on the objects whose `owner` column holds the caller's id
    (null elsewhere): a field rule settled as `domain.model.Reading.OWN`."""

    owner: str
    field: Stored | Money

    @property
    def key(self) -> str:
        return self.field.key


# --- nested objects ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ManyToOne:
    """The object whose id is in this row's `column` (null when missing or hidden)."""

    key: str
    column: str
    target: Selection


@dataclass(frozen=True, slots=True)
class OneToMany:
    """A connection over the target rows whose `column` holds this row's id."""

    key: str
    column: str
    connection: Connection


@dataclass(frozen=True, slots=True)
class ManyToMany:
    """A connection over the target rows an association row (`through`) links to this
    row: its `key` column holds this row's id, its `target_key` column the target's."""

    key: str
    through: Through
    connection: Connection


@dataclass(frozen=True, slots=True)
class Parts:
    """An aggregate's parts (an order's lines): every `target` row whose `column` holds
    this row's id, as a list by id."""

    key: str
    column: str
    target: Selection


@dataclass(frozen=True, slots=True)
class Count:
    """How many `source` rows the caller sees whose `column` holds this row's id."""

    key: str
    column: str
    source: Source


type Field = (
    Constant
    | GlobalId
    | Money
    | Computed
    | Parts
    | Stored
    | Owned
    | Null
    | ManyToOne
    | OneToMany
    | ManyToMany
    | Count
)


@dataclass(frozen=True, slots=True)
class Selection:
    """The fields selected on one object type, in response order."""

    entity: Source
    fields: tuple[Field, ...]


# --- connections ------------------------------------------------------------------------


class PageInfoPart(enum.Enum):
    HAS_NEXT_PAGE = "hasNextPage"
    HAS_PREVIOUS_PAGE = "hasPreviousPage"
    START_CURSOR = "startCursor"
    END_CURSOR = "endCursor"


@dataclass(frozen=True, slots=True)
class EdgeCursor:
    key: str


@dataclass(frozen=True, slots=True)
class EdgeNode:
    key: str
    target: Selection


@dataclass(frozen=True, slots=True)
class Edges:
    key: str
    fields: tuple[EdgeCursor | EdgeNode | Constant, ...]


@dataclass(frozen=True, slots=True)
class PageInfo:
    key: str
    fields: tuple[tuple[str, PageInfoPart] | Constant, ...]


@dataclass(frozen=True, slots=True)
class TotalCount:
    key: str


@dataclass(frozen=True, slots=True)
class Connection:
    """A keyset page of `entity` rows matching `spec` (the caller's filter)."""

    entity: Source
    spec: Specification
    request: PageRequest
    fields: tuple[Edges | PageInfo | TotalCount | Constant, ...]


# --- root fields ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RootConnection:
    key: str
    connection: Connection


@dataclass(frozen=True, slots=True)
class RootObject:
    """One object by key; `key_value` None means the caller's own account (`me`).

    `key_from` names the operation's variable the key was decoded from when that
    variable is used nowhere else in the operation: the plan then serves any value of
    it, the key given per execution (`Scope.keys`), as a prepared template.
    """

    key: str
    target: Selection
    key_value: int | None
    key_from: str | None = None


@dataclass(frozen=True, slots=True)
class RootConstant:
    """A root field whose JSON needs no database: `__typename`, or null."""

    key: str
    json: str


type Root = RootConnection | RootObject | RootConstant


@dataclass(frozen=True, slots=True)
class Plan:
    """A query operation: one root entry per planned response key, in order.

    `rules` names the entities whose object-level rule the SQL needs; the caller's
    specifications for them come with each execution in a `Scope`. `fallback` are the
    response keys the planner could not express: the resolvers answer those (the
    operation's root fields being plain fields), the plan the others.
    """

    roots: tuple[Root, ...]
    rules: frozenset[str]
    fallback: frozenset[str] = frozenset()


def rule_name(entity: Source) -> str:
    """The name of an entity's object-level rule in a `Plan` and a `Scope`."""
    return entity.entity


@dataclass(frozen=True, slots=True)
class Scope:
    """Who asks, for one execution of a plan; `keys` are the by-id roots' keys for this
    execution by response key, in place of their `RootObject.key_value` (a template's)."""

    user_id: int | None
    rules: Mapping[str, Specification]
    keys: Mapping[str, int] | None = None


# Document, operation name, roles, permissions, whether the caller is signed in, variables.
type PlanKey = tuple[str, str | None, frozenset[str], frozenset[str], bool, bytes]


@dataclass(frozen=True, slots=True)
class Planned:
    """An operation the planner answered: enough to answer it again without Strawberry.

    Parsing, validation, the limits and the budget had all let it through, so the
    same key (document, operation, variables, roles, permissions) is let through
    again; only the budget's debit and the data change from one request to the next.
    """

    key: PlanKey
    plan: Plan
    cost: int
    operation_name: str | None
