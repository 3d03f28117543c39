"""Entity models: the framework-free description every layer derives its part from.

A team declares an entity once, as Strawberry code (`schema.entities.entity`, which
documents the declaration format). That declaration produces an `EntityModel`, plain
data over domain types, which the composition root hands to each layer:

- persistence derives the table, the repository and its unit-of-work registration
  (`persistence.entities`);
- the domain runs the generic service over it (`domain.services.entities`), each
  command replaceable by a use case (a subclass overriding the method);
- resolvers derive the dataloaders of every relationship (`resolvers.entities`);
- the schema derives the GraphQL type, `node`, the connection, the mutations and
  the subscriptions; the read planner derives the SQL from the same model.

The public shape (what a declaration and the scaffold produce):

    EntityModel(
        name="Supplier", plural="suppliers", table="suppliers", factory=Supplier,
        attributes=(Attribute("name", FieldType.STR, filters=TEXT_FILTERS, orderable=True),
                    Attribute("email", FieldType.EMAIL, read="suppliers:read_email"),
                    Attribute("manager_id", FieldType.REF, target="User", nullable=True)),
        relations=(Relation("manager", RelationKind.MANY_TO_ONE, "User", key="manager_id"),),
        policy=Policy(read=None, write="suppliers:write", visible=visible_suppliers),
        mutations=frozenset({"create", "update", "delete"}),
        subscriptions=frozenset({"created"}),
    )
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from domain.paging import Direction, Sort
from domain.principals import Principal
from domain.specifications import Always, Op, Specification

type Visibility = Callable[[Principal], Specification]
type Choices = type[enum.Enum]  # named: `Attribute.type` shadows `type` inside the class


class FieldType(enum.StrEnum):
    """The stored types of an attribute; each layer maps them (column, GraphQL scalar)."""

    STR = "str"  # short text, at most `max_length` (200 by default)
    TEXT = "text"  # long text
    INT = "int"
    BOOL = "bool"
    DECIMAL = "decimal"
    MONEY = "money"  # domain.money.Money: cents and a currency
    EMAIL = "email"  # domain.users.Email, stored lower-case
    DATETIME = "datetime"  # timezone-aware UTC
    REF = "ref"  # the integer id of another entity (`target`)
    ENUM_SET = "enum_set"  # a frozenset of an enum's members (`choices`), stored as text
    ENUM = "enum"  # one member of a StrEnum (`choices`), stored as its value


class Mutation(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class Change(enum.StrEnum):
    """What happened to an entity; names the `<Entity>Created/Updated/Deleted` events."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


EQUALITY = frozenset({Op.EQ})
TEXT_FILTERS = frozenset({Op.EQ, Op.CONTAINS})
RANGE_FILTERS = frozenset({Op.EQ, Op.GE, Op.LE})


@dataclass(frozen=True, slots=True)
class Attribute:
    """One stored field of the entity (a dataclass field of the domain class).

    `filters` are the comparisons the connection's filter offers; `read` a permission
    without which the field reads as null, unless `owner` names the attribute holding
    the caller's id (as `User.email`: admins read every one, a user their own);
    `reading` settles that rule for a caller, and the resolvers and the planner both
    apply it; `write` the generic inputs that carry it (create, update, both or none);
    `columns` the column names when a table written by hand names them otherwise (a
    MONEY attribute's cents then currency).
    """

    name: str
    type: FieldType
    nullable: bool = False
    max_length: int | None = None
    target: str | None = None
    filters: frozenset[Op] = frozenset()
    orderable: bool = False
    read: str | None = None
    write: frozenset[Mutation] = frozenset({Mutation.CREATE, Mutation.UPDATE})
    unique: bool = False
    columns: tuple[str, ...] = ()
    owner: str | None = None
    choices: Choices | None = None

    def writable(self, mutation: Mutation) -> bool:
        return mutation in self.write

    @property
    def column_names(self) -> tuple[str, ...]:
        """The attribute's columns: its name, or cents and currency for MONEY."""
        if self.columns:
            return self.columns
        if self.type is FieldType.MONEY:
            return (f"{self.name}_cents", f"{self.name}_currency")
        return (self.name,)

    def reading(self, principal: Principal) -> Reading:
        """Whose value of this field the caller reads (the field's one read rule)."""
        if self.read is None or principal.can(self.read):
            return Reading.ALL
        if self.owner is not None and principal.user_id is not None:
            return Reading.OWN
        return Reading.NONE


class Reading(enum.Enum):
    """A field read rule settled for one caller: every value, the value on the objects
    whose `owner` attribute is the caller's id (null elsewhere), or none (null)."""

    ALL = "all"
    OWN = "own"
    NONE = "none"


class RelationKind(enum.StrEnum):
    MANY_TO_ONE = "many_to_one"  # `key` is this entity's REF attribute
    ONE_TO_MANY = "one_to_many"  # `key` is the target's REF attribute naming this entity
    MANY_TO_MANY = "many_to_many"  # through an association entity: `key` then `target_key`
    # The parts of an aggregate (an order's lines): the target rows whose `key` holds
    # this entity's id, held by the entity itself (the relation's name is one of its
    # dataclass fields, a tuple), loaded and stored with it, listed by id.
    PARTS = "parts"


@dataclass(frozen=True, slots=True)
class Relation:
    """A relationship exposed as a field; lists are connections with their own paging."""

    name: str
    kind: RelationKind
    target: str
    key: str
    through: str | None = None
    target_key: str | None = None
    order: Sort = field(default_factory=Sort)
    page_size: int = 10


@dataclass(frozen=True, slots=True)
class Through:
    """The association rows of a many-to-many relation, as stored: the association
    entity, its table, the column naming the owner and the column naming the target."""

    entity: str
    table: str
    key: str
    target_key: str

    @classmethod
    def of(cls, association: EntityModel, relation: Relation) -> Through:
        """The stored association of `relation` (a many-to-many through `association`)."""
        assert relation.target_key is not None
        key = association.attribute(relation.key).column_names[0]
        target_key = association.attribute(relation.target_key).column_names[0]
        return cls(association.name, association.table, key, target_key)


def _public(_principal: Principal) -> Specification:
    return Always()


@dataclass(frozen=True, slots=True)
class Policy:
    """Who may do what: permissions per action, and the object-level rule as a spec.

    `read` None means anyone (anonymous callers too); `visible` is the specification of
    the objects a caller sees, compiled into every list's SQL. `grants` gives roles
    permissions the entity introduces (`{"staff": {"suppliers:write"}}`).
    """

    read: str | None = None
    write: str = "admin:write"
    delete: str | None = None
    subscribe: str | None = None
    visible: Visibility = _public
    grants: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def delete_permission(self) -> str:
        return self.delete or self.write

    def permissions(self) -> Iterator[tuple[str, str]]:
        """(action, permission) for every permission the policy names."""
        for action, permission in (
            ("read", self.read),
            ("write", self.write),
            ("delete", self.delete),
            ("subscribe", self.subscribe),
        ):
            if permission is not None:
                yield action, permission


@dataclass(frozen=True, slots=True)
class EntityModel:
    """Everything the layers need to know about one declared entity."""

    name: str
    plural: str
    table: str
    factory: type
    attributes: tuple[Attribute, ...]
    relations: tuple[Relation, ...] = ()
    policy: Policy = Policy()
    mutations: frozenset[Mutation] = frozenset(Mutation)
    subscriptions: frozenset[Change] = frozenset()
    default_sort: Sort = field(default_factory=lambda: Sort("id", Direction.ASC))
    # The aggregate this entity is a part of (`OrderLine` of `Order`): it has no global
    # id nor root fields, and is read and written only through its owner.
    part_of: str | None = None

    @property
    def parts(self) -> tuple[Relation, ...]:
        """The relations to this aggregate's parts (`RelationKind.PARTS`)."""
        return tuple(r for r in self.relations if r.kind is RelationKind.PARTS)

    def attribute(self, name: str) -> Attribute:
        for candidate in self.attributes:
            if candidate.name == name:
                return candidate
        raise KeyError(f"{self.name} has no attribute {name}")

    @property
    def sort_fields(self) -> frozenset[str]:
        return frozenset({"id"} | {a.name for a in self.attributes if a.orderable})

    @property
    def resource(self) -> str:
        return self.plural


class DeclarationError(ValueError):
    """A declaration that cannot work; its message is one line naming entity and field."""

    def __init__(self, entity: str, field_name: str, message: str) -> None:
        super().__init__(f"entity {entity}, field {field_name}: {message}")
        self.entity, self.field_name = entity, field_name


class EntityRegistry:
    """The declared entities by name, checked together (targets exist, permissions known)."""

    def __init__(self, models: Iterable[EntityModel] = ()) -> None:
        self._models: dict[str, EntityModel] = {}
        for model in models:
            if model.name in self._models:
                raise DeclarationError(model.name, "name", "declared twice")
            self._models[model.name] = model

    def __iter__(self) -> Iterator[EntityModel]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, name: object) -> bool:
        return name in self._models

    def __getitem__(self, name: str) -> EntityModel:
        return self._models[name]

    def with_models(self, *models: EntityModel) -> EntityRegistry:
        return EntityRegistry([*self._models.values(), *models])

    def links(self, association: str) -> frozenset[tuple[str, str]]:
        """The (key, target_key) pairs of the many-to-many relations going through the
        entity `association`, in either direction (`(a, b)` and `(b, a)` are one pair):
        the attributes its rows must hold uniquely together."""
        return frozenset(
            (relation.key, relation.target_key)
            if relation.key <= relation.target_key
            else (relation.target_key, relation.key)
            for model in self
            for relation in model.relations
            if relation.through == association and relation.target_key is not None
        )

    def grants(self) -> dict[str, frozenset[str]]:
        """The permissions every declaration gives each role."""
        granted: dict[str, frozenset[str]] = {}
        for model in self:
            for role, permissions in model.policy.grants.items():
                granted[role] = granted.get(role, frozenset()) | permissions
        return granted

    def check(self, known_entities: Iterable[str], known_permission: Callable[[str], bool]) -> None:
        """Raises DeclarationError for a reference to a missing entity or an unknown
        permission; `known_entities` are types the schema defines outside the registry."""
        names = set(self._models) | set(known_entities)
        for model in self:
            for attribute in model.attributes:
                if attribute.type is FieldType.REF and attribute.target not in names:
                    raise DeclarationError(
                        model.name, attribute.name, f"refers to unknown entity {attribute.target}"
                    )
                known = {"id"} | {a.name for a in model.attributes}
                if attribute.owner is not None and attribute.owner not in known:
                    raise DeclarationError(
                        model.name, attribute.name, f"owner {attribute.owner} is no attribute"
                    )
                if attribute.read is not None and not known_permission(attribute.read):
                    raise DeclarationError(
                        model.name, attribute.name, f"unknown permission {attribute.read}"
                    )
            for relation in model.relations:
                for target in (relation.target, relation.through):
                    if target is not None and target not in names:
                        raise DeclarationError(
                            model.name, relation.name, f"refers to unknown entity {target}"
                        )
                if relation.kind is RelationKind.MANY_TO_MANY:
                    self._check_through(model, relation)
                if relation.kind is RelationKind.PARTS:
                    part = self._models.get(relation.target)
                    if part is None or part.part_of != model.name:
                        raise DeclarationError(
                            model.name, relation.name, f"{relation.target} is no part of it"
                        )
            if model.part_of is not None:
                owner = self._models.get(model.part_of)
                if owner is None or not any(r.target == model.name for r in owner.parts):
                    raise DeclarationError(
                        model.name, "part_of", f"{model.part_of} holds no parts of it"
                    )
                continue  # a part has no commands: its owner's policy rules it
            for action, permission in model.policy.permissions():
                if not known_permission(permission):
                    raise DeclarationError(
                        model.name, f"policy.{action}", f"unknown permission {permission}"
                    )

    def _check_through(self, model: EntityModel, relation: Relation) -> None:
        """A many-to-many's association must be declared, with `key` referring to
        `model` and `target_key` to the target; raises DeclarationError."""
        through = relation.through
        if through is None or through not in self._models:
            raise DeclarationError(
                model.name, relation.name, f"goes through {through}, which is not declared"
            )
        association = self._models[through]
        for key, target in ((relation.key, model.name), (relation.target_key, relation.target)):
            found = next((a for a in association.attributes if a.name == key), None)
            if found is None or found.type is not FieldType.REF or found.target != target:
                raise DeclarationError(
                    model.name,
                    relation.name,
                    f"{through}.{key} is no reference to {target}",
                )
