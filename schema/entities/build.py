"""What the schema derives from declarations: the completed types, their inputs, and
the root fields (`x(id)`, `xs(first, after, filter, orderBy)`, `createX`, `updateX`,
`deleteX`, `xCreated`...).

Types and inputs are made once per declaration and process (a Strawberry type is
decorated once); the root fields are made for each schema built.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import strawberry
from strawberry.types.field import StrawberryField

from domain import expressions
from domain.errors import MissingReferenceError
from domain.events import EntityChanged, EntityCreated, EntityDeleted, EntityUpdated
from domain.model import (
    Attribute,
    Change,
    DeclarationError,
    FieldType,
    Mutation,
    Reading,
    Relation,
    RelationKind,
    Through,
)
from domain.specifications import Compare, Op, Specification, all_of
from domain.users import Email
from resolvers import entities as entity_resolvers
from resolvers.context import Context
from schema.entities.declare import (
    Computed,
    Counted,
    Declaration,
    Declared,
    Related,
    computed_expression,
    counted_relation,
    snake,
    summed_relation,
)
from schema.money import Money, MoneyInput
from schema.node import decode_id, register_node_type, to_global_id
from schema.pagination import Connection, OrderDirection, connection, page_request
from schema.payloads import DeletePayload

type Info = strawberry.Info[Context, None]
type Resolver = Callable[..., Any]

_SUFFIX: dict[Op, str] = {
    Op.EQ: "",
    Op.NE: "_not",
    Op.CONTAINS: "_contains",
    Op.GE: "_at_least",
    Op.LE: "_at_most",
    Op.GT: "_after",
    Op.LT: "_before",
    Op.IN: "_in",
}
_OUTPUT: dict[FieldType, object] = {
    FieldType.STR: str,
    FieldType.TEXT: str,
    FieldType.EMAIL: str,
    FieldType.INT: int,
    FieldType.BOOL: bool,
    FieldType.DECIMAL: Decimal,
    FieldType.MONEY: Money,
    FieldType.DATETIME: datetime,
    FieldType.REF: strawberry.ID,
}
_INPUT: dict[FieldType, object] = {**_OUTPUT, FieldType.MONEY: MoneyInput}
_ENUMS: dict[type[enum.Enum], Any] = {}


def _graphql_enum(choices: type[enum.Enum]) -> Any:
    """The GraphQL enum of a domain StrEnum (its members' names), made once per process."""
    found = _ENUMS.get(choices)
    if found is None:
        members = {member.name: member.value for member in choices}
        found = _ENUMS[choices] = strawberry.enum(cast(Any, enum.Enum(choices.__name__, members)))
    return found


def _bind_enums(decl: Declaration) -> None:
    """Expose the StrEnum attributes declared with `enum=` as that Strawberry enum."""
    for name, option in decl.exposed.items():
        if not isinstance(option, Declared) or option.enum is None:
            continue
        choices = decl.model.attribute(name).choices
        if choices is None:
            raise DeclarationError(decl.name, name, "`enum` needs a StrEnum attribute")
        given = option.enum
        values: set[object] = set()
        if isinstance(given, enum.EnumMeta):
            values = {member.value for member in cast(Any, given)}
        if values != {member.value for member in choices}:
            shown = getattr(given, "__name__", repr(given))
            raise DeclarationError(
                decl.name, name, f"{shown} has other values than {choices.__name__}"
            )
        if _ENUMS.setdefault(choices, given) is not given:
            raise DeclarationError(decl.name, name, f"{choices.__name__} is exposed already")


def _output(attribute: Attribute) -> object:
    if attribute.type is FieldType.ENUM:
        assert attribute.choices is not None
        return _graphql_enum(attribute.choices)
    return _OUTPUT[attribute.type]


def _input(attribute: Attribute) -> object:
    return _output(attribute) if attribute.type is FieldType.ENUM else _INPUT[attribute.type]


_LITERAL_DEFAULTS = (str, int, bool, Decimal)
# Attributes whose domain value GraphQL serialises as it is (an email and a reference
# are converted, so they keep a resolver).
_PLAIN = frozenset(
    {
        FieldType.STR,
        FieldType.TEXT,
        FieldType.INT,
        FieldType.BOOL,
        FieldType.DECIMAL,
        FieldType.DATETIME,
        FieldType.MONEY,
    }
)


def _optional(annotation: Any) -> Any:
    return annotation | None


def _list_of(annotation: Any) -> Any:
    return cast(Any, list)[annotation]


def _connection_of(annotation: Any) -> Any:
    return cast(Any, Connection)[annotation]


def _stream_of(annotation: Any) -> Any:
    return cast(Any, AsyncGenerator)[annotation, None]


def _function(
    name: str, parameters: Sequence[tuple[str, object, Any]], returns: object, body: Resolver
) -> Resolver:
    """A resolver whose signature Strawberry reads: (name, annotation, default) each."""
    if inspect.iscoroutinefunction(body):

        async def resolver(*args: Any, **kwargs: Any) -> Any:
            return await body(*args, **kwargs)

    else:

        def resolver(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]  # same shape
            return body(*args, **kwargs)

    params = [
        inspect.Parameter(
            p_name,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=annotation,
            default=default,
        )
        for p_name, annotation, default in parameters
    ]
    resolver.__name__ = name
    resolver.__signature__ = inspect.Signature(params, return_annotation=returns)  # type: ignore[attr-defined]  # read by inspect.signature
    resolver.__annotations__ = {p.name: p.annotation for p in params} | {"return": returns}
    return resolver


_EMPTY = inspect.Parameter.empty
_ALL = all_of([])


def as_utc(moment: datetime) -> datetime:
    """An input time as stored: one without an offset is read as UTC, the zone of every
    stored time."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _to_domain(attribute: Attribute, value: Any, field_name: str) -> Any:
    """An input value as the domain attribute holds it."""
    if value is None:
        return None
    match attribute.type:
        case FieldType.MONEY:
            return value.to_domain()
        case FieldType.EMAIL:
            return Email(value)
        case FieldType.REF:
            assert attribute.target is not None
            return decode_id(value, attribute.target, field_name)
        case FieldType.DATETIME:
            return as_utc(value)
        case FieldType.ENUM:
            assert attribute.choices is not None
            return attribute.choices(value.value)
        case _:
            return value


def _label(decl: Declaration) -> str:
    """`supplier contacts` for SupplierContact: the plural as words."""
    return decl.model.plural.replace("_", " ")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass
class _Types:
    filter: type
    order: type
    create: type | None
    update: type | None


class _Builder:
    def __init__(self, declarations: Sequence[Declaration]) -> None:
        self.by_name = {d.name: d for d in declarations}
        for decl in declarations:
            _bind_enums(decl)

    # --- inputs -----------------------------------------------------------------------

    def filter_type(self, decl: Declaration) -> type:
        name = decl.name
        conditions: list[tuple[str, Attribute, Op]] = []
        annotations: dict[str, object] = {}
        namespace: dict[str, Any] = {}
        for attribute in decl.model.attributes:
            for op in [op for op in _SUFFIX if op in attribute.filters]:
                python_name = attribute.name + _SUFFIX[op]
                base = _input(attribute)
                annotations[python_name] = _optional(_list_of(base) if op is Op.IN else base)
                namespace[python_name] = None
                conditions.append((python_name, attribute, op))
        computed = dict(decl.filters)
        for python_name, extra in computed.items():
            annotations[python_name] = _optional(extra.annotation)
            namespace[python_name] = (
                strawberry.field(default=None, description=extra.description)
                if extra.description
                else None
            )
        cls = type(f"{name}Filter", (), namespace)
        annotations["and_"] = _optional(_list_of(cls))
        annotations["or_"] = _optional(_list_of(cls))
        annotations["not_"] = _optional(cls)
        cls.and_ = strawberry.field(name="and", default=None)  # type: ignore[attr-defined]
        cls.or_ = strawberry.field(name="or", default=None)  # type: ignore[attr-defined]
        cls.not_ = strawberry.field(name="not", default=None)  # type: ignore[attr-defined]
        cls.__annotations__ = annotations

        def to_spec(self: Any) -> Specification:
            parts: list[Specification] = []
            for python_name, attribute, op in conditions:
                value = getattr(self, python_name)
                if value is None:
                    continue
                argument = _camel(python_name)
                if op is Op.IN:
                    value = tuple(_to_domain(attribute, v, argument) for v in value)
                else:
                    value = _to_domain(attribute, value, argument)
                parts.append(Compare(attribute.name, op, value))
            for python_name, extra in computed.items():
                value = getattr(self, python_name)
                if value is not None:
                    parts.append(extra.to_spec(value))
            parts.extend(f.to_spec() for f in self.and_ or [])
            if self.or_:
                any_of = [f.to_spec() for f in self.or_]
                combined = any_of[0]
                for spec in any_of[1:]:
                    combined = combined | spec
                parts.append(combined)
            if self.not_ is not None:
                parts.append(~self.not_.to_spec())
            return all_of(parts)

        cls.to_spec = to_spec  # type: ignore[attr-defined]
        description = decl.descriptions.get(
            "filter", f"Conditions on {_label(decl)}; all given conditions must hold."
        )
        return strawberry.input(cls, description=description)

    def order_type(self, decl: Declaration) -> type:
        model = decl.model
        members = {"ID": "id"} | {a.name.upper(): a.name for a in model.attributes if a.orderable}
        field_enum: Any = strawberry.enum(cast(Any, enum.Enum(f"{model.name}OrderField", members)))
        default_direction = OrderDirection(model.default_sort.direction.value)
        default_field = field_enum(model.default_sort.field)
        cls = type(
            f"{model.name}Order",
            (),
            {
                "__annotations__": {"field": field_enum, "direction": OrderDirection},
                "field": default_field,
                "direction": default_direction,
            },
        )
        description = decl.descriptions.get(
            "order", f"How to sort {_label(decl)}; ties are broken by id."
        )
        return strawberry.input(cls, description=description)

    def input_type(self, decl: Declaration, *, create: bool) -> type:
        model = decl.model
        annotations: dict[str, object] = {}
        namespace: dict[str, Any] = {}
        required: list[tuple[str, object]] = []
        optional: list[tuple[str, object, object]] = []
        defaults = {
            f.name: f.default
            for f in dataclasses.fields(model.factory)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        }
        mutation = Mutation.CREATE if create else Mutation.UPDATE
        for attribute in model.attributes:
            inputs = attribute.type in _INPUT or attribute.type is FieldType.ENUM
            if not attribute.writable(mutation) or not inputs:
                continue
            base = _input(attribute)
            default = defaults.get(attribute.name, dataclasses.MISSING)
            if not create or attribute.nullable:
                optional.append((attribute.name, _optional(base), None))
            elif default is dataclasses.MISSING:
                required.append((attribute.name, base))
            elif type(default) in _LITERAL_DEFAULTS:
                # The domain's own default, shown in the SDL (`stock: Int! = 0`).
                optional.append((attribute.name, base, default))
            else:
                optional.append((attribute.name, _optional(base), None))
        for python_name, annotation in required:
            annotations[python_name] = annotation
        for python_name, annotation, value in optional:
            annotations[python_name] = annotation
            namespace[python_name] = value
        namespace["__annotations__"] = annotations
        prefix = "Create" if create else "Update"
        cls = type(f"{prefix}{model.name}Input", (), namespace)
        fallback = None if create else "Fields to change; omitted fields stay as they are."
        description = decl.descriptions.get("create" if create else "update", fallback)
        return strawberry.input(cls, description=description)

    def inputs(self, decl: Declaration) -> _Types:
        if "inputs" not in decl.types:
            mutations = decl.model.mutations
            decl.types["inputs"] = _Types(
                self.filter_type(decl),
                self.order_type(decl),
                self.input_type(decl, create=True) if Mutation.CREATE in mutations else None,
                self.input_type(decl, create=False) if Mutation.UPDATE in mutations else None,
            )
        found: _Types = decl.types["inputs"]
        return found

    # --- the type -----------------------------------------------------------------------

    def complete(self, decl: Declaration) -> None:
        if decl.built:
            return
        cls, model = decl.cls, decl.model
        annotations = dict(inspect.get_annotations(cls))

        def global_id(root: Any) -> strawberry.ID:
            return to_global_id(model.name, root.id)

        if model.part_of is None:
            cls.id = strawberry.field(  # type: ignore[attr-defined]  # a field of the type being built
                resolver=_function("id", [("root", _EMPTY, _EMPTY)], strawberry.ID, global_id)
            )
        for name, option in decl.exposed.items():
            annotations.pop(name, None)
            if isinstance(option, Related):
                resolver = self.relation(decl, name, option)
            elif isinstance(option, Counted):
                resolver = self.counted(decl, name, option)
            elif isinstance(option, Computed):
                resolver = self.computed(decl, name, option)
            else:
                attribute = model.attribute(name)
                if attribute.read is None and attribute.type in _PLAIN:
                    # Read as it is by Strawberry's default resolver: no resolver call
                    # (nor a resolver span) per object and field.
                    output = _OUTPUT[attribute.type]
                    annotations[name] = _optional(output) if attribute.nullable else output
                    setattr(cls, name, strawberry.field(description=option.description))
                    continue
                resolver = self.attribute(model.name, attribute, option)
            setattr(
                cls,
                name,
                strawberry.field(resolver=resolver, description=option.description),
            )
        cls.__annotations__ = annotations
        factory = model.factory

        def is_type_of(_cls: type, obj: Any, _info: Any) -> bool:
            return isinstance(obj, factory)

        cls.is_type_of = classmethod(is_type_of)  # type: ignore[attr-defined]
        strawberry.type(cls, description=decl.description)
        if model.part_of is None:
            register_node_type(model.name)
        decl.built = True

    def attribute(self, entity: str, attribute: Attribute, option: Declared) -> Resolver:
        name, read = attribute.name, attribute.read
        if attribute.type not in _OUTPUT and attribute.type is not FieldType.ENUM:
            raise DeclarationError(entity, name, "needs a field of its own to be exposed")
        output: Any = _output(attribute)
        nullable = attribute.nullable or read is not None
        returns = _optional(output) if nullable else output

        def value(root: Any) -> Any:
            found = getattr(root, name)
            if found is None:
                return None
            if attribute.type is FieldType.EMAIL:
                return str(found)
            if attribute.type is FieldType.REF:
                assert attribute.target is not None
                return to_global_id(attribute.target, found)
            if attribute.type is FieldType.ENUM:
                return output(found.value)
            return found

        if read is None:
            return _function(name, [("root", _EMPTY, _EMPTY)], returns, value)
        owner = attribute.owner

        def guarded(root: Any, info: Info) -> Any:
            principal = info.context.principal
            reading = attribute.reading(principal)
            if reading is Reading.ALL:
                return value(root)
            if reading is Reading.OWN and getattr(root, owner or "id") == principal.user_id:
                return value(root)
            if owner is not None and (entity, root.id) in info.context.operation.shown_to_owner:
                return value(root)  # shown to its owner before a token proves it (login)
            return None

        return _function(name, [("root", _EMPTY, _EMPTY), ("info", Info, _EMPTY)], returns, guarded)

    def counted(self, decl: Declaration, name: str, option: Counted) -> Resolver:
        relation = counted_relation(decl, name, option)
        entity, key = relation.target, relation.key

        async def count(root: Any, info: Info) -> int:
            context = info.context
            return await entity_resolvers.count_children(context, entity, key, root.id, _ALL)

        return _function(name, [("root", _EMPTY, _EMPTY), ("info", Info, _EMPTY)], int, count)

    def computed(self, decl: Declaration, name: str, option: Computed) -> Resolver:
        expression, kind = computed_expression(decl, name, option, self.by_name.get)
        summed = {
            part.relation: summed_relation(decl, name, part.relation)
            for part in expressions.sums(expression)
        }

        async def compute(root: Any, info: Info) -> Any:
            rows = {
                relation_name: (
                    getattr(root, relation_name)  # the aggregate holds its parts
                    if relation.kind is RelationKind.PARTS
                    else await entity_resolvers.all_children(
                        info.context, relation.target, relation.key, root.id
                    )
                )
                for relation_name, relation in summed.items()
            }
            return expressions.evaluate(expression, root, rows)

        returns = Money if kind is expressions.ValueType.MONEY else int
        return _function(name, [("root", _EMPTY, _EMPTY), ("info", Info, _EMPTY)], returns, compute)

    def relation(self, decl: Declaration, name: str, option: Related) -> Resolver:
        relation = option.relation
        target = relation.target
        if relation.kind is RelationKind.MANY_TO_ONE:
            return self.many_to_one(decl.name, name, relation.key, target)
        if relation.kind is RelationKind.ONE_TO_MANY:
            found = self.by_name.get(target)
            if found is None:
                raise DeclarationError(decl.name, name, f"refers to unknown entity {target}")
            return self.one_to_many(name, found, relation.key, relation.page_size)
        if relation.kind is RelationKind.MANY_TO_MANY:
            return self.many_to_many(decl, name, relation)
        if relation.kind is RelationKind.PARTS:
            found = self.by_name.get(target)
            if found is None:
                raise DeclarationError(decl.name, name, f"refers to unknown entity {target}")
            return self.parts(name, found)
        raise DeclarationError(decl.name, name, f"{relation.kind} is not supported")

    def parts(self, name: str, target: Declaration) -> Resolver:
        self.complete(target)

        def listed(root: Any) -> list[Any]:
            return list(getattr(root, name))

        return _function(name, [("root", _EMPTY, _EMPTY)], _list_of(target.cls), listed)

    def many_to_one(self, entity: str, name: str, key: str, target: str) -> Resolver:
        declared = self.by_name.get(target)
        if declared is None:
            raise DeclarationError(entity, name, f"refers to unknown entity {target}")

        async def related(root: Any, info: Info) -> Any:
            owner = getattr(root, key)
            return (
                None if owner is None else await entity_resolvers.one(info.context, target, owner)
            )

        return _function(
            name,
            [("root", _EMPTY, _EMPTY), ("info", Info, _EMPTY)],
            _optional(declared.cls),
            related,
        )

    def one_to_many(self, name: str, target: Declaration, key: str, page_size: int) -> Resolver:
        self.complete(target)
        entity = target.name

        def page(context: Context, owner: int, spec: Specification, request: Any) -> Any:
            return entity_resolvers.children(context, entity, key, owner, spec, request)

        def count(context: Context, owner: int, spec: Specification) -> Any:
            return entity_resolvers.count_children(context, entity, key, owner, spec)

        return self.connection_field(name, target, page_size, page, count)

    def many_to_many(self, decl: Declaration, name: str, relation: Relation) -> Resolver:
        """A connection over the target rows the association entity's rows link to this
        one, filtered, ordered and paged as the target's root connection."""
        target = self.by_name.get(relation.target)
        association = self.by_name.get(relation.through or "")
        if target is None or association is None:
            missing = relation.target if target is None else relation.through
            raise DeclarationError(decl.name, name, f"refers to unknown entity {missing}")
        stored = {a.name for a in association.model.attributes}
        for key in (relation.key, relation.target_key):
            if key not in stored:
                raise DeclarationError(
                    decl.name, name, f"{association.name} has no attribute {key}"
                )
        through = Through.of(association.model, relation)
        # Not completed here, as a one-to-many's target is: the reverse direction would
        # complete this type again; `build_roots` completes every declared type.
        entity = target.name

        def page(context: Context, owner: int, spec: Specification, request: Any) -> Any:
            return entity_resolvers.linked(context, entity, through, owner, spec, request)

        def count(context: Context, owner: int, spec: Specification) -> Any:
            return entity_resolvers.count_linked(context, entity, through, owner, spec)

        return self.connection_field(name, target, relation.page_size, page, count)

    def connection_field(
        self,
        name: str,
        target: Declaration,
        page_size: int,
        page: Callable[[Context, int, Specification, Any], Awaitable[Any]],
        count: Callable[[Context, int, Specification], Awaitable[int]],
    ) -> Resolver:
        """A relationship's connection: the target's filter, order and paging, a page of
        the rows related to this one (`page`) and their `totalCount` (`count`)."""
        inputs = self.inputs(target)

        async def related(
            root: Any,
            info: Info,
            first: int | None,
            after: str | None,
            filter: Any,  # GraphQL argument name
            order_by: Any,
        ) -> Connection[Any]:
            request = _request(target, first, after, order_by, inputs.order)
            spec = filter.to_spec() if filter else all_of([])
            context = info.context
            found = await page(context, root.id, spec, request)
            return connection(found, _same, lambda: count(context, root.id, spec))

        return _function(
            name,
            [
                ("root", _EMPTY, _EMPTY),
                ("info", Info, _EMPTY),
                ("first", _optional(int), page_size),
                ("after", _optional(str), None),
                ("filter", _optional(inputs.filter), None),
                ("order_by", _optional(inputs.order), None),
            ],
            _connection_of(target.cls),
            related,
        )


def _same(value: Any) -> Any:
    return value


def _request(
    decl: Declaration, first: int | None, after: str | None, order_by: Any, order_type: type
) -> Any:
    sort = order_by or order_type()
    return page_request(first, after, sort.field.value, sort.direction)


@dataclass
class EntityRoots:
    """The root fields derived from the declarations, by Python name."""

    query: dict[str, StrawberryField] = field(default_factory=dict)
    mutation: dict[str, StrawberryField] = field(default_factory=dict)
    subscription: dict[str, StrawberryField] = field(default_factory=dict)
    types: list[type] = field(default_factory=list)


def build_roots(declarations: Sequence[Declaration]) -> EntityRoots:
    """Complete every declared type and derive its root fields."""
    builder = _Builder(declarations)
    roots = EntityRoots()
    for decl in declarations:
        builder.inputs(decl)
    for decl in declarations:
        builder.complete(decl)
    for decl in declarations:
        if decl.model.part_of is None:  # a part is reached through its owner alone
            _queries(decl, builder.inputs(decl), roots.query)
            _mutations(decl, builder.inputs(decl), roots.mutation)
            _subscriptions(decl, roots.subscription)
        roots.types.append(decl.cls)
    return roots


def _queries(decl: Declaration, inputs: _Types, into: dict[str, StrawberryField]) -> None:
    entity, cls = decl.name, decl.cls
    single = snake(entity)

    async def one(info: Info, id: strawberry.ID) -> Any:  # Relay's name
        return await entity_resolvers.one(info.context, entity, decode_id(id, entity))

    async def many(
        info: Info, first: int | None, after: str | None, filter: Any, order_by: Any
    ) -> Connection[Any]:
        request = _request(decl, first, after, order_by, inputs.order)
        spec = filter.to_spec() if filter else all_of([])
        page = await entity_resolvers.page(info.context, entity, spec, request)
        return connection(page, _same, lambda: entity_resolvers.count(info.context, entity, spec))

    into[single] = strawberry.field(
        resolver=_function(
            single,
            [("info", Info, _EMPTY), ("id", strawberry.ID, _EMPTY)],
            _optional(cls),
            one,
        ),
        description=decl.descriptions.get(single),
    )
    into[decl.model.plural] = strawberry.field(
        resolver=_function(
            decl.model.plural,
            [
                ("info", Info, _EMPTY),
                ("first", _optional(int), 20),
                ("after", _optional(str), None),
                ("filter", _optional(inputs.filter), None),
                ("order_by", _optional(inputs.order), None),
            ],
            _connection_of(cls),
            many,
        ),
        description=decl.descriptions.get(
            decl.model.plural, f"{_label(decl).capitalize()}, a page at a time."
        ),
    )


def _values(decl: Declaration, data: Any, mutation: Mutation) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for attribute in decl.model.attributes:
        if not attribute.writable(mutation):
            continue
        given = getattr(data, attribute.name, None)
        if given is not None:
            values[attribute.name] = _to_domain(attribute, given, f"input.{_camel(attribute.name)}")
    return values


def _input_named(decl: Declaration, error: MissingReferenceError) -> MissingReferenceError:
    """The error naming the input field (`input.vendorId`, as a malformed id there is
    named) and its entity, where the database named the attribute (`vendor_id`)."""
    for attribute in decl.model.attributes:
        if attribute.name == error.field and attribute.type is FieldType.REF:
            return MissingReferenceError(f"input.{_camel(attribute.name)}", attribute.target)
    return error


def _mutations(decl: Declaration, inputs: _Types, into: dict[str, StrawberryField]) -> None:
    entity, cls, single = decl.name, decl.cls, snake(decl.name)
    mutations = decl.model.mutations
    if inputs.create is not None:

        async def create(info: Info, input: Any) -> Any:
            try:
                return await entity_resolvers.create(
                    info.context, entity, _values(decl, input, Mutation.CREATE)
                )
            except MissingReferenceError as error:
                raise _input_named(decl, error) from error

        into[f"create_{single}"] = strawberry.mutation(
            resolver=_function(
                f"create_{single}",
                [("info", Info, _EMPTY), ("input", inputs.create, _EMPTY)],
                cls,
                create,
            ),
            description=decl.descriptions.get(f"create_{single}", f"Create a {entity}."),
        )
    if inputs.update is not None:

        async def update(info: Info, id: strawberry.ID, input: Any) -> Any:
            key = decode_id(id, entity)
            try:
                return await entity_resolvers.update(
                    info.context, entity, key, _values(decl, input, Mutation.UPDATE)
                )
            except MissingReferenceError as error:
                raise _input_named(decl, error) from error

        into[f"update_{single}"] = strawberry.mutation(
            resolver=_function(
                f"update_{single}",
                [
                    ("info", Info, _EMPTY),
                    ("id", strawberry.ID, _EMPTY),
                    ("input", inputs.update, _EMPTY),
                ],
                cls,
                update,
            ),
            description=decl.descriptions.get(f"update_{single}", f"Change a {entity}."),
        )
    if Mutation.DELETE in mutations:

        async def delete(info: Info, id: strawberry.ID) -> DeletePayload:
            await entity_resolvers.delete(info.context, entity, decode_id(id, entity))
            return DeletePayload(deleted_id=id)

        into[f"delete_{single}"] = strawberry.mutation(
            resolver=_function(
                f"delete_{single}",
                [("info", Info, _EMPTY), ("id", strawberry.ID, _EMPTY)],
                DeletePayload,
                delete,
            ),
            description=decl.descriptions.get(f"delete_{single}", f"Delete a {entity}."),
        )


_EVENTS: Mapping[Change, type[EntityChanged]] = {
    Change.CREATED: EntityCreated,
    Change.UPDATED: EntityUpdated,
    Change.DELETED: EntityDeleted,
}


def _subscriptions(decl: Declaration, into: dict[str, StrawberryField]) -> None:
    from schema.subscriptions import After, _refusal_as_error

    entity = decl.name
    for change in sorted(decl.model.subscriptions):
        event_type = _EVENTS[change]
        name = f"{snake(entity)}_{change.value}"
        deleted = change is Change.DELETED
        returns = DeletePayload if deleted else decl.cls

        def make(event_type: type[EntityChanged], deleted: bool) -> Resolver:
            async def subscribe(info: Info, after: str | None = None) -> AsyncGenerator[Any, None]:
                changes = await _refusal_as_error(
                    entity_resolvers.changes(info.context, entity, event_type, after)
                )

                async def stream() -> AsyncGenerator[Any, None]:
                    async with aclosing(changes):
                        async for delivered in changes:
                            if deleted:
                                key = delivered.event.key
                                yield DeletePayload(deleted_id=to_global_id(entity, key))
                            else:
                                yield delivered.subject

                return stream()

            return subscribe

        into[name] = strawberry.subscription(
            resolver=_function(
                name,
                [("info", Info, _EMPTY), ("after", After, None)],
                _stream_of(returns),
                make(event_type, deleted),
            ),
            description=f"Each {entity} {change.value}, as the caller may see it.",
        )
