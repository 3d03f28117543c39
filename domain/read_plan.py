"""The read plan: what one validated query asks for, with every decision already taken.

Framework-free on purpose (standard library and `domain` only): the GraphQL side
builds a plan (`schema.planner.compile`), the persistence side turns it into SQL
(`persistence.read_model`), and neither needs the other's library to read it.

Every selection carries its response key (alias or field name) and keeps the order
of the operation's fields, so the database can build the response in that order.
Field permissions are already settled here (`Email.everyone`); object-level rules
are named by `Entity` and supplied per request as specifications in a `Scope`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from domain.paging import PageRequest
from domain.specifications import Specification


class Entity(enum.StrEnum):
    USER = "User"
    ITEM = "Item"
    ORDER = "Order"
    LINE = "OrderLine"


# --- leaves of an object -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Value:
    """A stored string, integer or boolean, output as it is (`name`, `stock`, ...)."""

    key: str
    column: str


@dataclass(frozen=True, slots=True)
class Constant:
    """A JSON string known when planning (`__typename`)."""

    key: str
    text: str


@dataclass(frozen=True, slots=True)
class GlobalId:
    key: str
    type_name: str


@dataclass(frozen=True, slots=True)
class Timestamp:
    """A UTC time as `datetime.isoformat()` writes it."""

    key: str
    column: str


@dataclass(frozen=True, slots=True)
class EnumName:
    """A stored enum value output as the GraphQL enum name (upper case)."""

    key: str
    column: str


@dataclass(frozen=True, slots=True)
class RoleNames:
    key: str


@dataclass(frozen=True, slots=True)
class Email:
    """`User.email`: everyone's for an admin, else only the caller's own (null otherwise)."""

    key: str
    everyone: bool


class MoneyPart(enum.Enum):
    AMOUNT = "amount"
    CURRENCY = "currency"
    TYPENAME = "__typename"


class MoneySource(enum.Enum):
    PRICE = "price"  # Item.price
    UNIT_PRICE = "unit_price"  # OrderLine.unitPrice
    SUBTOTAL = "subtotal"  # OrderLine.subtotal: unit price times quantity
    TOTAL = "total"  # Order.total: the sum of its lines' subtotals


@dataclass(frozen=True, slots=True)
class Money:
    key: str
    source: MoneySource
    parts: tuple[tuple[str, MoneyPart], ...]


# --- nested objects ---------------------------------------------------------------------


class Link(enum.Enum):
    LINE_ITEM = "line_item"  # OrderLine.item: null when hidden
    ORDER_CUSTOMER = "order_customer"  # Order.customer: null when hidden
    ORDER_LINES = "order_lines"  # Order.lines, in line order
    CUSTOMER_ORDERS = "customer_orders"  # User.orders, a connection


@dataclass(frozen=True, slots=True)
class Child:
    """A single related object, or a list of them (`Order.lines`)."""

    key: str
    link: Link
    target: Selection


@dataclass(frozen=True, slots=True)
class NestedConnection:
    key: str
    link: Link
    connection: Connection


type Field = (
    Value
    | Constant
    | GlobalId
    | Timestamp
    | EnumName
    | RoleNames
    | Email
    | Money
    | Child
    | NestedConnection
)


@dataclass(frozen=True, slots=True)
class Selection:
    """The fields selected on one object type, in response order."""

    entity: Entity
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

    entity: Entity
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
    """One object by key; `key_value` None means the caller's own account (`me`)."""

    key: str
    target: Selection
    key_value: int | None


@dataclass(frozen=True, slots=True)
class RootConstant:
    """A root field whose JSON needs no database: `__typename`, or null."""

    key: str
    json: str


type Root = RootConnection | RootObject | RootConstant


@dataclass(frozen=True, slots=True)
class Plan:
    """A whole query operation: one root entry per response key, in order.

    `rules` names the entities whose object-level rule the SQL needs; the caller's
    specifications for them come with each execution in a `Scope`.
    """

    roots: tuple[Root, ...]
    rules: frozenset[Entity]


@dataclass(frozen=True, slots=True)
class Scope:
    """Who asks, for one execution of a plan."""

    user_id: int | None
    rules: Mapping[Entity, Specification]


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
