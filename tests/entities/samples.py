"""Values for any declared entity, derived from its model: what the generic suites write.

Each attribute type gets a deterministic value for row `n` (with ties on purpose: a sort
must break them by id), both as the domain holds it and as GraphQL input carries it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.errors import ValidationError
from domain.model import Attribute, EntityModel, FieldType, Mutation
from domain.money import Money
from domain.paging import PageRequest
from domain.principals import Principal
from domain.specifications import Always, Op
from domain.users import Email
from gateway.container import Container
from schema.entities import Declaration
from schema.node import to_global_id

BASE_TIME = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
NAMES = ("Delta", "alpha", "Charlie", "bravo", "Echo", "Zoë", "alpha two")


def domain_value(attribute: Attribute, n: int, refs: Mapping[str, Sequence[int]]) -> Any:
    match attribute.type:
        case FieldType.STR | FieldType.TEXT:
            text = f"{NAMES[n % len(NAMES)]} {n}"
            return text if attribute.unique else NAMES[n % len(NAMES)]
        case FieldType.EMAIL:
            return Email(f"contact{n}@example.com")
        case FieldType.INT:
            return n % 4
        case FieldType.BOOL:
            return n % 3 != 0
        case FieldType.DECIMAL:
            return Decimal(n % 5) / 4
        case FieldType.MONEY:
            return Money(100 * (n % 6))
        case FieldType.DATETIME:
            return BASE_TIME + timedelta(seconds=n % 5, microseconds=7 * (n % 2))
        case FieldType.REF:
            assert attribute.target is not None
            keys = refs[attribute.target]
            return keys[n % len(keys)]
        case FieldType.ENUM_SET:
            assert attribute.choices is not None
            return frozenset(list(attribute.choices)[: 1 + n % 2])
        case FieldType.ENUM:
            assert attribute.choices is not None
            members = list(attribute.choices)
            return members[n % len(members)]


def graphql_value(attribute: Attribute, value: Any) -> Any:
    """The GraphQL input form of a domain value."""
    if value is None:
        return None
    match attribute.type:
        case FieldType.EMAIL:
            return str(value)
        case FieldType.DECIMAL:
            return str(value)
        case FieldType.MONEY:
            return {"amount": str(value.amount), "currency": value.currency}
        case FieldType.DATETIME:
            return value.isoformat()
        case FieldType.REF:
            assert attribute.target is not None
            return to_global_id(attribute.target, value)
        case FieldType.ENUM:
            return value.name
        case _:
            return value


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


SUFFIX = {
    Op.EQ: "",
    Op.NE: "Not",
    Op.CONTAINS: "Contains",
    Op.GE: "AtLeast",
    Op.LE: "AtMost",
    Op.GT: "After",
    Op.LT: "Before",
    Op.IN: "In",
}


def creatable(model: EntityModel) -> list[Attribute]:
    return [a for a in model.attributes if a.writable(Mutation.CREATE)]


def _identifier(n: int) -> str:
    """Row `n`'s text as a code (`DELTA-0`): for a field whose entity refuses free text."""
    letters = "".join(c for c in NAMES[n % len(NAMES)].upper() if "A" <= c <= "Z")
    return f"{letters}-{n}"


def create_values(model: EntityModel, n: int, refs: Mapping[str, Sequence[int]]) -> dict[str, Any]:
    """Row `n`'s values for every creatable attribute, as the entity accepts them: a
    text field its invariants refuse (a sku's pattern) gets the code form instead."""
    values = {a.name: domain_value(a, n, refs) for a in creatable(model)}
    references = [a for a in creatable(model) if a.type is FieldType.REF]
    if len(references) > 1:
        # An association (many-to-many): row n links owner n // 2 with target n * n, so
        # an owner has several targets and a target several owners, and some none; the
        # odd row of an owner takes the next target where n * n would repeat the even
        # row's (a pair is linked once at most).
        owner, target = references[0], references[1]
        assert owner.target is not None
        assert target.target is not None
        owners, targets = refs[owner.target], refs[target.target]
        values[owner.name] = owners[n // 2 % len(owners)]
        index = n * n % len(targets)
        if n % 2 and index == (n - 1) * (n - 1) % len(targets):
            index = (index + 1) % len(targets)
        values[target.name] = targets[index]
    try:
        model.factory(**values)
    except ValidationError as refused:
        for problem in refused.problems:
            attribute = model.attribute(problem.field)
            if attribute.type in (FieldType.STR, FieldType.TEXT):
                values[problem.field] = _identifier(n)
    return values


async def seed_rows(
    container: Container, declarations: Sequence[Declaration], rows: int
) -> dict[str, list[int]]:
    """`rows` objects of every declared entity, targets first; their ids by entity."""
    users = await container.services.users.page(
        Principal.system(), Always(), PageRequest(first=100)
    )
    items = await container.services.items.page(
        Principal.system(), Always(), PageRequest(first=100)
    )
    orders = await container.services.orders.page(
        Principal.system(), Always(), PageRequest(first=100)
    )
    keys: dict[str, list[int]] = {
        "User": [u.id for u in users.items],
        "Item": [i.id for i in items.items],
        "Order": [o.id for o in orders.items],
    }
    # Entities without a generic create (accounts) are the world's rows only.
    pending = [d for d in declarations if Mutation.CREATE in d.model.mutations]
    while pending:
        ready = [
            d
            for d in pending
            if {a.target for a in d.model.attributes if a.type is FieldType.REF} <= set(keys)
        ]
        if not ready:
            raise AssertionError(f"no targets for {[d.name for d in pending]}")
        for decl in ready:
            pending.remove(decl)
            service = container.services.entities[decl.name]
            created = []
            for n in range(rows):
                values = create_values(decl.model, n, keys)
                created.append((await service.create(Principal.system(), values)).id)
            keys[decl.name] = created
    return keys
