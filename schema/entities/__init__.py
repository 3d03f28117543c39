"""Declared entities: a Strawberry type bound to its domain entity drives every layer.

The declaration format (public; the scaffold writes it):

    from strawberry import auto
    from domain import suppliers
    from domain.model import EQUALITY, TEXT_FILTERS, Change
    from schema.entities import declared, entity, many_to_one
    from schema.node import Node

    @entity(suppliers.Supplier, table="suppliers", policy=suppliers.POLICY,
            subscriptions={Change.CREATED}, service=suppliers.SupplierService)
    class Supplier(Node):
        name: auto = declared(filters=TEXT_FILTERS, orderable=True, unique=True)
        email: auto = declared(read="suppliers:read_email")
        active: auto = declared(filters=EQUALITY)
        manager: auto = many_to_one("manager_id", "User")

- `entity(factory, *, table, plural, policy, mutations, subscriptions, service,
  default_order, description)`: `factory` is the domain dataclass; `policy` a
  `domain.model.Policy` (permissions per action, the visibility specification,
  the permissions it grants roles); `mutations` a subset of `domain.model.Mutation`;
  `subscriptions` a subset of `domain.model.Change`; `service` an
  `EntityService` subclass whose overridden commands are the entity's use cases.
- `declared(filters, orderable, read, write, unique, max_length, text, ref, columns,
  owner)`: options of an `auto` field (`write=Mutation.CREATE`: set once, at creation;
  `read`: the permission to read it, null otherwise, except on the objects whose
  attribute `owner` holds the caller's id).
- An `auto` field whose dataclass type is a `StrEnum` is exposed as a GraphQL enum of
  its members' names (filtered with `Op.EQ`/`Op.IN`, sorted and planned by its stored
  value, which must be the name lower-cased for the planner to write it).
- `computed_filter(annotation, to_spec)`: a filter argument that is not one
  attribute's comparison, named in `entity(..., filters={"in_stock": ...})`.
- `entity(..., descriptions={"items": "...", "create_item": "..."})`: the derived
  root fields' and inputs' descriptions.
- `many_to_one(key, target)`, `one_to_many(target, key, order, page_size)`:
  relationships, batched by dataloaders and planned as SQL subqueries (the read
  planner plans every declared entity from its declaration).
- `many_to_many(target, through, key, target_key, page_size)`: a connection over the
  `target` rows the rows of the declared association entity `through` link to this
  one (`key` its reference to this entity, `target_key` to the target), each once;
  links are made and removed by the association's own mutations, each pair once at
  most (a unique constraint on the two references; a repeated link is
  `ALREADY_EXISTS`, a link to a missing object `BAD_USER_INPUT`).
- `count_of(relation)`: a computed field, how many rows of a one-to-many relation
  the caller sees (its dataloader on the resolver path, a subquery when planned).
- `computed(expression)`: a count or an amount of money computed from the row
  (`product("quantity", "unit_price")`) or summed over a one-to-many relation's rows
  the caller sees (`sum_of("lines", "subtotal")`); the expression
  (`domain.expressions`) is evaluated in Python by the resolvers and written as SQL by
  the planner.
- `parts(target, key)`: the parts of an aggregate (an order's lines), a field of the
  domain dataclass itself, listed by id and stored with it; the target is declared with
  `@entity(..., part_of="Order")` and has no id nor root fields of its own.

The application's declarations live in the `schema.declarations` package (every
module there is imported at start-up: adding one edits nothing else).
"""

from schema.entities.build import as_utc
from schema.entities.declare import (
    Computed,
    ComputedFilter,
    Declaration,
    check_computed,
    computed,
    computed_filter,
    count_of,
    declaration_of,
    declarations,
    declared,
    entity,
    many_to_many,
    many_to_one,
    one_to_many,
    parts,
)

__all__ = [
    "Computed",
    "ComputedFilter",
    "Declaration",
    "as_utc",
    "check_computed",
    "computed",
    "computed_filter",
    "count_of",
    "declaration_of",
    "declarations",
    "declared",
    "entity",
    "many_to_many",
    "many_to_one",
    "one_to_many",
    "parts",
]
