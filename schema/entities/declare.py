"""The declaration: a Strawberry type bound to its domain entity.

    @entity(suppliers.Supplier, table="suppliers", policy=suppliers.POLICY,
            subscriptions={Change.CREATED})
    class Supplier(Node):
        name: auto = declared(filters=TEXT_FILTERS, orderable=True, unique=True)
        email: auto = declared(read="suppliers:read_email")
        active: auto = declared(filters=EQUALITY)
        manager: auto = many_to_one("manager_id", "User")

Fields annotated `auto` take their type from the domain dataclass (as strawberry-django
takes it from the model); the dataclass's other fields are stored but not exposed.
Any other Strawberry field (a computed `@strawberry.field`) is kept as written. The
decorator builds the `domain.model.EntityModel` and records the declaration; the
Strawberry type itself is completed when a schema is built with it (`build.py`), once
every entity a relationship names is known.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import re
import sys
import types
import typing
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Union

from strawberry.types.auto import StrawberryAuto

from domain import expressions
from domain.expressions import Expression, ValueType
from domain.model import (
    Attribute,
    Change,
    DeclarationError,
    EntityModel,
    FieldType,
    Mutation,
    Policy,
    Relation,
    RelationKind,
)
from domain.money import Money
from domain.paging import Direction, Sort
from domain.services.entities import EntityService
from domain.specifications import Op, Specification
from domain.users import Email

ID_ORDER = Sort("id", Direction.ASC)
PUBLIC = Policy()
_PYTHON_TYPES: dict[object, FieldType] = {
    str: FieldType.STR,
    int: FieldType.INT,
    bool: FieldType.BOOL,
    Decimal: FieldType.DECIMAL,
    Money: FieldType.MONEY,
    Email: FieldType.EMAIL,
    datetime: FieldType.DATETIME,
}


@dataclass(frozen=True, slots=True)
class Declared:
    """Options of one stored attribute (see `declared`)."""

    filters: frozenset[Op] = frozenset()
    orderable: bool = False
    read: str | None = None
    write: frozenset[Mutation] = frozenset({Mutation.CREATE, Mutation.UPDATE})
    unique: bool = False
    max_length: int | None = None
    text: bool = False
    ref: str | None = None
    description: str | None = None
    columns: tuple[str, ...] = ()
    owner: str | None = None
    enum: object | None = None


def declared(
    *,
    filters: Collection[Op] = (),
    orderable: bool = False,
    read: str | None = None,
    write: bool | Mutation = True,
    unique: bool = False,
    max_length: int | None = None,
    text: bool = False,
    ref: str | None = None,
    description: str | None = None,
    columns: tuple[str, ...] = (),
    owner: str | None = None,
    enum: object | None = None,
) -> Any:
    """How an `auto` field is filtered, sorted, read (`read`: a permission, else null,
    except on the objects whose attribute `owner` is the caller's id), written (`write`:
    in the create and update inputs, in neither, or only in the one named,
    `Mutation.CREATE` or `Mutation.UPDATE`) and stored (`text`: long text; `ref`: the id
    of another entity; `columns`: the column names of a table written by hand).

    `enum` names the Strawberry enum a StrEnum attribute is exposed as, when the schema
    defines one already (its members' values must be the domain enum's); by default a
    GraphQL enum named after the domain enum is derived."""
    if isinstance(write, Mutation):
        writes = frozenset({write})
    else:
        writes = frozenset({Mutation.CREATE, Mutation.UPDATE}) if write else frozenset()
    return Declared(
        frozenset(filters),
        orderable,
        read,
        writes,
        unique,
        max_length,
        text,
        ref,
        description,
        columns,
        owner,
        enum,
    )


@dataclass(frozen=True, slots=True)
class ComputedFilter:
    """A filter argument that is not one attribute's comparison (see `computed_filter`)."""

    annotation: object
    to_spec: Callable[[Any], Specification]
    description: str | None = None


def computed_filter(
    annotation: object, to_spec: Callable[[Any], Specification], *, description: str | None = None
) -> ComputedFilter:
    """A filter argument of GraphQL type `annotation` whose given value becomes the
    specification `to_spec(value)` (`in_stock: true` as `stock > 0`)."""
    return ComputedFilter(annotation, to_spec, description)


@dataclass(frozen=True, slots=True)
class Related:
    relation: Relation
    description: str | None = None


def many_to_one(key: str, target: str, *, description: str | None = None) -> Any:
    """The object `key` (this entity's id attribute) refers to; null when hidden."""
    return Related(
        Relation(key.removesuffix("_id"), RelationKind.MANY_TO_ONE, target, key), description
    )


def one_to_many(
    target: str,
    key: str,
    *,
    order: Sort = ID_ORDER,
    page_size: int = 10,
    description: str | None = None,
) -> Any:
    """A connection over the `target` rows whose attribute `key` is this entity's id."""
    relation = Relation("", RelationKind.ONE_TO_MANY, target, key, order=order, page_size=page_size)
    return Related(relation, description)


def parts(target: str, key: str, *, description: str | None = None) -> Any:
    """The parts of this aggregate (an order's lines): the field is the domain
    dataclass's own tuple of `target` objects, whose table's column `key` holds this
    entity's id; they are loaded and stored with it and listed by id. `target` is
    declared with `part_of` naming this entity."""
    return Related(Relation("", RelationKind.PARTS, target, key), description)


def many_to_many(
    target: str,
    *,
    through: str,
    key: str,
    target_key: str,
    page_size: int = 10,
    description: str | None = None,
) -> Any:
    """A connection over `target` through the association entity `through`, whose
    attribute `key` names this entity and `target_key` the target."""
    relation = Relation(
        "",
        RelationKind.MANY_TO_MANY,
        target,
        key,
        through=through,
        target_key=target_key,
        page_size=page_size,
    )
    return Related(relation, description)


@dataclass(frozen=True, slots=True)
class Counted:
    """A computed field: how many rows of the one-to-many `relation` the caller sees."""

    relation: str
    description: str | None = None


def count_of(relation: str, *, description: str | None = None) -> Any:
    """How many rows of this entity's one-to-many `relation` the caller sees: counted by
    the relation's dataloader on the resolver path, in the SQL on the planner's."""
    return Counted(relation, description)


@dataclass(frozen=True, slots=True)
class Computed:
    """A computed field: an expression over the row and its relations' rows."""

    expression: Expression
    description: str | None = None


def computed(expression: Expression, *, description: str | None = None) -> Any:
    """A field computed from the row (`product("quantity", "unit_price")`) or summed over
    a one-to-many relation (`sum_of("lines", "subtotal")`, a name there being an
    attribute or a computed field of the target; see `domain.expressions`): evaluated in
    Python on the resolver path, written as SQL by the planner."""
    return Computed(expression, description)


def summed_relation(decl: Declaration, name: str, relation_name: str) -> Relation:
    """The one-to-many relation a computed field sums over; raises DeclarationError."""
    for relation in decl.model.relations:
        if relation.name == relation_name and relation.kind in _LISTED:
            return relation
    raise _error(decl.name, name, f"sums over {relation_name}, which is no one-to-many relation")


# Relations a computed field may sum over: rows whose `key` holds this entity's id.
_LISTED = frozenset({RelationKind.ONE_TO_MANY, RelationKind.PARTS})


def computed_expression(
    decl: Declaration, name: str, option: Computed, named: Callable[[str], Declaration | None]
) -> tuple[Expression, ValueType]:
    """The expression of a computed field with computed names replaced and sums typed,
    and what it gives; `named` finds a declaration by entity name. Raises
    DeclarationError naming the entity and the field."""

    def entity_of(relation: str | None) -> Declaration:
        if relation is None:
            return decl
        target = summed_relation(decl, name, relation).target
        found = named(target)
        if found is None:
            raise _error(decl.name, name, f"sums over {target}, which is not declared")
        return found

    def computed_field(relation: str | None, field_name: str) -> Expression | None:
        owner = entity_of(relation)
        found = owner.exposed.get(field_name)
        if not isinstance(found, Computed):
            return None
        if owner is decl and field_name == name:
            raise _error(decl.name, name, "computed from itself")
        return found.expression

    def attribute_type(relation: str | None, field_name: str) -> ValueType:
        owner = entity_of(relation)
        try:
            attribute = owner.model.attribute(field_name)
        except KeyError:
            raise _error(decl.name, name, f"{owner.name} has no attribute {field_name}") from None
        if attribute.nullable:
            raise _error(decl.name, name, f"{owner.name}.{field_name} may be null")
        kind = _VALUE_TYPES.get(attribute.type)
        if kind is None:
            raise _error(decl.name, name, f"{owner.name}.{field_name} is no count nor money")
        return kind

    try:
        return expressions.typed(
            expressions.resolve(option.expression, computed_field), attribute_type
        )
    except expressions.ExpressionError as error:
        raise _error(decl.name, name, str(error)) from None


_VALUE_TYPES = {FieldType.INT: ValueType.INT, FieldType.MONEY: ValueType.MONEY}


def check_computed(declared: Iterable[Declaration]) -> None:
    """Raises DeclarationError for a computed field that cannot be computed (an unknown
    or nullable attribute, two amounts of money multiplied, a sum inside a sum)."""
    by_name = {decl.name: decl for decl in declared}
    for decl in by_name.values():
        for name, option in decl.exposed.items():
            if isinstance(option, Computed):
                computed_expression(decl, name, option, by_name.get)


def counted_relation(decl: Declaration, name: str, option: Counted) -> Relation:
    """The one-to-many relation a `count_of` field counts; raises DeclarationError."""
    for relation in decl.model.relations:
        if relation.name == option.relation and relation.kind is RelationKind.ONE_TO_MANY:
            return relation
    raise _error(decl.name, name, f"counts {option.relation}, which is no one-to-many relation")


@dataclass(eq=False)
class Declaration:
    """One declared entity: its model, its Strawberry type, its service class."""

    cls: type
    model: EntityModel
    service: type[EntityService]
    exposed: dict[str, Declared | Related | Counted | Computed]
    description: str | None
    filters: Mapping[str, ComputedFilter] = field(default_factory=dict)
    descriptions: Mapping[str, str] = field(default_factory=dict)
    built: bool = False
    types: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.model.name

    def new_service(self, *args: Any) -> EntityService:
        return self.service(self.model, *args)


_DECLARED: dict[type, Declaration] = {}


def declaration_of(cls: type) -> Declaration:
    """The declaration made by `@entity` on `cls`; raises KeyError if none."""
    return _DECLARED[cls]


def declarations(modules: Iterable[str] | None = None) -> list[Declaration]:
    """Every declaration made so far (in declaration order), or those of `modules`."""
    wanted = None if modules is None else set(modules)
    return [d for d in _DECLARED.values() if wanted is None or d.cls.__module__ in wanted]


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _is_auto(annotation: object) -> bool:
    if isinstance(annotation, str):
        return annotation.rsplit(".", 1)[-1] == "auto"
    return any(isinstance(arg, StrawberryAuto) for arg in typing.get_args(annotation))


def _field_type(
    entity: str, name: str, hint: object, options: Declared
) -> tuple[FieldType, bool, type[enum.Enum] | None]:
    nullable = False
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(hint))
        hint = args[0] if len(args) == 1 else hint
    if options.ref is not None:
        if hint is not int:
            raise _error(entity, name, "a reference must be an int attribute")
        return FieldType.REF, nullable, None
    members = typing.get_args(hint)
    if typing.get_origin(hint) is frozenset and len(members) == 1:
        member = members[0]
        if isinstance(member, type) and issubclass(member, enum.Enum):
            return FieldType.ENUM_SET, nullable, member
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if not issubclass(hint, str):
            # Its cursor key and its stored text are the value: a str.
            raise _error(entity, name, f"{hint.__name__} is no StrEnum")
        return FieldType.ENUM, nullable, hint
    found = _PYTHON_TYPES.get(hint)
    if found is None:
        shown = getattr(hint, "__name__", str(hint))
        raise _error(entity, name, f"unknown field type {shown}")
    if found is FieldType.STR and options.text:
        found = FieldType.TEXT
    return found, nullable, None


def _field_hints(factory: type) -> dict[str, Any]:
    """The dataclass fields' types; a base class's other annotations (a mixin's private
    state) are not evaluated, since their names need not be importable here."""
    annotations = {f.name: f.type for f in dataclasses.fields(factory)}
    holder = type("_Fields", (), {"__annotations__": annotations})
    return typing.get_type_hints(holder, vars(sys.modules[factory.__module__]))


def _error(entity: str, name: str, message: str) -> DeclarationError:
    return DeclarationError(entity, name, message)


def entity(
    factory: type,
    *,
    table: str,
    plural: str | None = None,
    policy: Policy = PUBLIC,
    mutations: Collection[Mutation] = frozenset(Mutation),
    subscriptions: Collection[Change] = frozenset(),
    service: type[EntityService] = EntityService,
    default_order: Sort = ID_ORDER,
    description: str | None = None,
    filters: Mapping[str, ComputedFilter] | None = None,
    descriptions: Mapping[str, str] | None = None,
    part_of: str | None = None,
) -> Callable[[type], type]:
    """Bind a Strawberry type to the domain dataclass `factory` (see the module doc).

    `filters` adds computed filter arguments by Python name; `descriptions` gives the
    derived GraphQL elements their descriptions by Python name (`items`, `item`,
    `create_item`, `update_item`, `delete_item`, and `order`, `filter`, `create`,
    `update` for the inputs). `part_of` declares a part of another entity's aggregate
    (`OrderLine` of `Order`, which lists it with `parts`): no global id, no root fields,
    no mutations; it is read and written through its owner.

    Raises DeclarationError (one line naming the entity and the field) for a field
    whose type the layers cannot store or expose.
    """

    def bind(cls: type) -> type:
        name = cls.__name__
        if not dataclasses.is_dataclass(factory):
            raise _error(name, "factory", f"{factory.__name__} is not a dataclass")
        hints = _field_hints(factory)
        annotations = inspect.get_annotations(cls)
        exposed: dict[str, Declared | Related | Counted | Computed] = {}
        options: dict[str, Declared] = {}
        relations: list[Relation] = []
        held: set[str] = set()  # dataclass fields holding the aggregate's parts
        for attr_name, annotation in annotations.items():
            value = cls.__dict__.get(attr_name)
            if isinstance(value, Counted | Computed):
                exposed[attr_name] = value
            elif isinstance(value, Related):
                relation = value.relation
                if not relation.name:
                    relation = dataclasses.replace(relation, name=attr_name)
                relations.append(relation)
                exposed[attr_name] = Related(relation, value.description)
                if relation.kind is RelationKind.MANY_TO_ONE:
                    ref = options.get(relation.key, Declared())
                    options[relation.key] = dataclasses.replace(ref, ref=relation.target)
                elif relation.kind is RelationKind.PARTS:
                    if attr_name not in hints:
                        raise _error(name, attr_name, f"{factory.__name__} has no such field")
                    held.add(attr_name)
            elif _is_auto(annotation):
                chosen = value if isinstance(value, Declared) else Declared()
                if attr_name not in hints:
                    raise _error(name, attr_name, f"{factory.__name__} has no such field")
                exposed[attr_name] = chosen
                options[attr_name] = dataclasses.replace(
                    chosen, ref=options.get(attr_name, chosen).ref or chosen.ref
                )
        attributes: list[Attribute] = []
        for dc_field in dataclasses.fields(factory):
            if dc_field.name == "id" or dc_field.name.startswith("_") or dc_field.name in held:
                continue
            chosen = options.get(dc_field.name, Declared())
            kind, nullable, choices = _field_type(name, dc_field.name, hints[dc_field.name], chosen)
            if kind is FieldType.ENUM_SET and dc_field.name in exposed:
                raise _error(name, dc_field.name, "a set of choices needs a field of its own")
            attributes.append(
                Attribute(
                    dc_field.name,
                    kind,
                    nullable=nullable,
                    max_length=chosen.max_length,
                    target=chosen.ref,
                    filters=chosen.filters,
                    orderable=chosen.orderable,
                    read=chosen.read,
                    write=chosen.write,
                    unique=chosen.unique,
                    columns=chosen.columns,
                    owner=chosen.owner,
                    choices=choices,
                )
            )
        model = EntityModel(
            name=name,
            plural=plural or f"{snake(name)}s",
            table=table,
            factory=factory,
            attributes=tuple(attributes),
            relations=tuple(relations),
            policy=policy,
            mutations=frozenset(mutations),
            subscriptions=frozenset(() if part_of else subscriptions),
            default_sort=default_order,
            part_of=part_of,
        )
        if part_of is not None:
            model = dataclasses.replace(model, mutations=frozenset())
        declaration = Declaration(
            cls, model, service, exposed, description, dict(filters or {}), dict(descriptions or {})
        )
        for attr_name, option in exposed.items():
            if isinstance(option, Counted):
                counted_relation(declaration, attr_name, option)
            elif isinstance(option, Computed):
                for summed in expressions.sums(option.expression):
                    summed_relation(declaration, attr_name, summed.relation)
        for attr_name in exposed:
            if attr_name in cls.__dict__:
                delattr(cls, attr_name)
        _DECLARED[cls] = declaration
        return cls

    return bind
