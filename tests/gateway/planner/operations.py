"""Hypothesis strategies for GraphQL query operations over the planner's types.

An operation is a random selection over Query -> connections -> User/Item/Order ->
lines -> item, with random arguments (page sizes inside and outside the limits,
cursors that fit the sort or not, filters), aliases, inline and named fragments and
`@include`/`@skip` on a variable. Most operations are valid; some are deliberately
not (a page of 101, a cursor of the wrong kind, an id of another type): then both
paths must refuse them alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from domain.paging import Cursor
from schema.node import to_global_id

USER_LEAVES = ("id", "__typename", "name", "roles", "active", "createdAt", "email")
ITEM_LEAVES = ("id", "__typename", "sku", "name", "description", "stock", "active", "createdAt")
ORDER_LEAVES = ("id", "__typename", "status", "createdAt", "updatedAt")
LINE_LEAVES = ("quantity", "__typename")
MONEY_LEAVES = ("amount", "currency", "__typename")

FIRSTS = (None, 0, 1, 2, 3, 5, 10, 100, 101, -1)
SORTS = {
    "User": ("ID", "NAME", "CREATED_AT"),
    "Item": ("ID", "SKU", "NAME", "PRICE", "STOCK", "CREATED_AT"),
    "Order": ("ID", "CREATED_AT", "STATUS"),
}
STATUSES = ("PLACED", "PAID", "SHIPPED", "DELIVERED", "CANCELLED")
NEEDLES = ("a", "Pro", "ë", "%", "", "back\\\\slash", "Z", '\\"')


@dataclass
class Operation:
    query: str
    variables: dict[str, Any]


@dataclass
class _Document:
    draw: st.DrawFn
    fragments: list[str] = field(default_factory=list)
    uses_flag: bool = False
    uses_size: bool = False
    aliases: int = 0

    def choose(self, options: tuple[Any, ...]) -> Any:
        return self.draw(st.sampled_from(options))

    def chance(self, probability: float) -> bool:
        return self.draw(st.floats(0, 1)) < probability

    # --- selections ---------------------------------------------------------------

    def selection(self, type_name: str, fields: list[str]) -> str:
        """Fields in braces, some in fragments, some behind a directive."""
        if not fields:
            fields = ["__typename"]
        parts: list[str] = []
        rest = list(fields)
        if len(rest) > 1 and self.chance(0.2):
            cut = self.draw(st.integers(1, len(rest) - 1))
            inner, rest = rest[:cut], rest[cut:]
            if self.chance(0.5):
                name = f"F{len(self.fragments)}"
                self.fragments.append(f"fragment {name} on {type_name} {{ {' '.join(inner)} }}")
                parts.append(f"...{name}")
            else:
                condition = "Node" if type_name in ("User", "Item", "Order") else type_name
                parts.append(f"... on {condition} {{ {' '.join(inner)} }}")
        for text in rest:
            if self.chance(0.08):
                self.uses_flag = True
                directive = self.choose(("@include(if: $flag)", "@skip(if: $flag)"))
                text = _with_directive(text, directive)
            parts.append(text)
        return "{ " + " ".join(parts) + " }"

    def alias(self, text: str) -> str:
        if self.aliases < 20 and self.chance(0.15):
            self.aliases += 1
            return f"a{self.aliases}: {text}"
        return text

    def leaves(self, options: tuple[str, ...]) -> list[str]:
        chosen = self.draw(st.lists(st.sampled_from(options), min_size=0, max_size=5))
        return [self.alias(name) for name in chosen]

    def money(self, name: str) -> str:
        return f"{self.alias(name)} {self.selection('Money', self.leaves(MONEY_LEAVES))}"

    def user(self, depth: int) -> str:
        fields = self.leaves(USER_LEAVES)
        if depth > 0 and self.chance(0.5):
            fields.append(self.connection("orders", "Order", depth - 1, nested=True))
        return self.selection("User", fields)

    def item(self) -> str:
        fields = self.leaves(ITEM_LEAVES)
        if self.chance(0.5):
            fields.append(self.money("price"))
        return self.selection("Item", fields)

    def order(self, depth: int) -> str:
        fields = self.leaves(ORDER_LEAVES)
        if self.chance(0.4):
            fields.append(self.money("total"))
        if self.chance(0.6):
            line = self.leaves(LINE_LEAVES)
            for name in ("unitPrice", "subtotal"):
                if self.chance(0.3):
                    line.append(self.money(name))
            if self.chance(0.7):
                line.append(f"{self.alias('item')} {self.item()}")
            fields.append(f"{self.alias('lines')} {self.selection('OrderLine', line)}")
        if depth > 0 and self.chance(0.2):
            fields.append(f"{self.alias('customer')} {self.user(depth - 1)}")
        return self.selection("Order", fields)

    def node(self, type_name: str, depth: int) -> str:
        if type_name == "User":
            return self.user(depth)
        if type_name == "Item":
            return self.item()
        return self.order(depth)

    # --- connections ----------------------------------------------------------------

    def connection(self, name: str, type_name: str, depth: int, *, nested: bool = False) -> str:
        arguments = self.arguments(type_name, nested=nested)
        fields: list[str] = []
        if self.chance(0.5):
            fields.append(self.alias("totalCount"))
        if self.chance(0.2):
            fields.append("__typename")
        if self.chance(0.6):
            info = self.leaves(("hasNextPage", "hasPreviousPage", "startCursor", "endCursor"))
            fields.append(f"{self.alias('pageInfo')} {self.selection('PageInfo', info)}")
        if self.chance(0.85):
            edge = self.leaves(("cursor", "__typename"))
            edge.append(f"node {self.node(type_name, depth)}")
            fields.append(f"edges {self.selection(type_name + 'Edge', edge)}")
        suffix = f"({', '.join(arguments)})" if arguments else ""
        label = self.alias(name) if nested else name
        return f"{label}{suffix} {self.selection(type_name + 'Connection', fields)}"

    def arguments(self, type_name: str, *, nested: bool) -> list[str]:
        arguments: list[str] = []
        first = self.choose(FIRSTS)
        if first is not None:
            if not nested and not self.uses_size and self.chance(0.3):
                self.uses_size = True
                arguments.append("first: $size")
            else:
                arguments.append(f"first: {first}")
        sort_field = None
        if self.chance(0.5):
            sort_field = self.choose(SORTS[type_name])
            direction = self.choose(("ASC", "DESC"))
            arguments.append(f"orderBy: {{field: {sort_field}, direction: {direction}}}")
        if self.chance(0.15):
            arguments.append(f'after: "{self.cursor(sort_field)}"')
        if self.chance(0.4):
            arguments.append(f"filter: {self.filter(type_name, 2)}")
        return arguments

    def cursor(self, sort_field: str | None) -> str:
        kind = self.choose(("int", "text", "time", "garbage", "fitting"))
        ident = self.draw(st.integers(1, 60))
        if kind == "garbage":
            return "not-a-cursor"
        if kind == "fitting":
            kind = {"NAME": "text", "SKU": "text", "CREATED_AT": "time", "STATUS": "text"}.get(
                sort_field or "ID", "int"
            )
        key: int | str = {
            "int": self.draw(st.integers(0, 60_000)),
            "text": self.choose(("M", "ITEM-0010", "paid", "Zoë", "")),
            "time": self.choose(("2024-11-05T00:00:00+00:00", "2025-06-01T12:30:00.5+00:00")),
        }[kind]
        return Cursor(key, ident).encode()

    def filter(self, type_name: str, depth: int) -> str:
        parts: list[str] = []
        if type_name in ("User", "Item") and self.chance(0.4):
            parts.append(f'nameContains: "{self.choose(NEEDLES)}"')
        if type_name in ("User", "Item") and self.chance(0.3):
            parts.append(f"active: {self.choose(('true', 'false'))}")
        if type_name == "Item":
            if self.chance(0.2):
                parts.append(f'sku: "{self.choose(("ITEM-0002", "ITEM-0004", "nope"))}"')
            if self.chance(0.3):
                amount = self.choose(("0", "100", "250.5", "1.999"))
                bound = self.choose(("priceAtLeast", "priceAtMost"))
                currency = self.choose(("USD", "EUR"))
                parts.append(f'{bound}: {{amount: "{amount}", currency: "{currency}"}}')
            if self.chance(0.3):
                parts.append(f"inStock: {self.choose(('true', 'false'))}")
            if depth > 0 and self.chance(0.2):
                parts.append(f"not: {self.filter('Item', depth - 1)}")
            if depth > 0 and self.chance(0.2):
                inner = ", ".join(self.filter("Item", depth - 1) for _ in range(2))
                parts.append(f"{self.choose(('and', 'or'))}: [{inner}]")
        if type_name == "Order":
            if self.chance(0.3):
                parts.append(f"status: {self.choose(STATUSES)}")
            if self.chance(0.2):
                chosen = self.draw(st.lists(st.sampled_from(STATUSES), max_size=3))
                parts.append(f"statusIn: [{', '.join(chosen)}]")
            if self.chance(0.2):
                customer = self.choose((4, 9, 12, "Item:3", "garbage"))
                parts.append(f'customerId: "{_id("User", customer)}"')
            if self.chance(0.2):
                moment = self.choose(("2025-01-01T00:00:00Z", "2025-06-01T00:00:00"))
                parts.append(f'{self.choose(("createdAfter", "createdBefore"))}: "{moment}"')
        return "{" + ", ".join(parts) + "}"

    # --- roots ------------------------------------------------------------------------

    def root(self) -> str:
        kind = self.choose(("users", "items", "orders", "me", "user", "item", "order", "type"))
        if kind == "type":
            return "__typename"
        if kind in ("users", "items", "orders"):
            type_name = {"users": "User", "items": "Item"}.get(kind, "Order")
            return self.connection(kind, type_name, 2)
        if kind == "me":
            return f"me {self.user(2)}"
        type_name = {"user": "User", "item": "Item"}.get(kind, "Order")
        ident = self.choose((1, 2, 4, 5, 9, 44, 999, "garbage", "other"))
        if ident == "other":
            type_name, ident = ("Item" if kind != "item" else "User"), 1
        return f'{kind}(id: "{_id(type_name, ident)}") {self.node(type_name, 2)}'


def _with_directive(text: str, directive: str) -> str:
    """`name(args) @directive { ... }`: the directive goes before the selection set."""
    depth = 0
    for position, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "{" and depth == 0:
            return f"{text[:position]}{directive} {text[position:]}"
    return f"{text} {directive}"


def _id(type_name: str, key: int | str) -> str:
    if isinstance(key, str):
        if ":" in key:
            other, number = key.split(":")
            return str(to_global_id(other, int(number)))
        return key
    return str(to_global_id(type_name, key))


@st.composite
def operations(draw: st.DrawFn) -> Operation:
    document = _Document(draw)
    roots = [document.root() for _ in range(draw(st.integers(1, 3)))]
    # Several roots of one name need aliases to merge cleanly; give each its own.
    named = [f"r{n}: {root}" for n, root in enumerate(roots)]
    definitions = []
    if document.uses_flag:
        definitions.append("$flag: Boolean!")
    if document.uses_size:
        definitions.append("$size: Int")
    header = f"query Generated({', '.join(definitions)})" if definitions else "query Generated"
    text = "\n".join([f"{header} {{ {' '.join(named)} }}", *document.fragments])
    variables: dict[str, Any] = {}
    if document.uses_flag:
        variables["flag"] = draw(st.booleans())
    if document.uses_size:
        variables["size"] = draw(st.sampled_from((None, 1, 4, 100, 101)))
    return Operation(text, variables)


PRINCIPALS = (1, 2, 4, 9, None)  # admin, staff, two customers, anonymous
