"""The files of a new entity, in the declaration format of `schema.entities`.

Two files, both meant to be edited afterwards:

- `domain/<plural>.py`: the entity (a plain dataclass with its invariants) and its
  access policy (permissions per action, granted to the owner role);
- `schema/declarations/<plural>.py`: the declaration binding a Strawberry type to the
  entity (filters, ordering, relationships), from which every layer derives its part.

The migration is not a template: `gateway db revision` writes it from the models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.scaffold.spec import EntitySpec, FieldSpec, snake_case

STR_MAX_LENGTH = 200
LINE_LENGTH = 100  # the project's formatter setting


@dataclass(frozen=True, slots=True)
class PlannedFile:
    """A file to write: its path relative to the project root and its text."""

    path: Path
    text: str


def entity_files(spec: EntitySpec) -> tuple[PlannedFile, ...]:
    """The hand-editable files of the new entity."""
    return (
        PlannedFile(Path("domain") / f"{spec.module}.py", domain_module(spec)),
        PlannedFile(Path("schema") / "declarations" / f"{spec.module}.py", declaration(spec)),
    )


def _annotation(spec: FieldSpec) -> str:
    base = spec.kind.annotation
    return f"{base} | None = None" if spec.nullable else base


def domain_module(spec: EntitySpec) -> str:
    kinds = {f.kind.name for f in spec.fields}
    imports = ["from dataclasses import dataclass, field", "from datetime import UTC, datetime"]
    if "decimal" in kinds:
        imports.append("from decimal import Decimal")
    imports.append("")
    short_texts = [f for f in spec.fields if f.kind.name == "str"]
    if short_texts:
        imports.append("from domain.errors import ValidationError")
    imports.append("from domain.model import Policy")
    if "money" in kinds:
        imports.append("from domain.money import Money")
    if "email" in kinds:
        imports.append("from domain.users import Email")
    attributes = [f"    {f.attribute}: {_annotation(f)}" for f in spec.fields]
    checks = [
        f"        if len(self.{f.name}{' or ' + chr(34) * 2 if f.nullable else ''}) > MAX_LENGTH:\n"
        f'            raise ValidationError.single("{f.name}", TOO_LONG)'
        for f in short_texts
    ]
    limits = (
        f"\n\nMAX_LENGTH = {STR_MAX_LENGTH}  # the column's length\n"
        'TOO_LONG = f"must be at most {MAX_LENGTH} characters"'
        if short_texts
        else ""
    )
    invariants = "\n\n    def __post_init__(self) -> None:\n" + "\n".join(checks) if checks else ""
    resource = spec.resource
    grants = f'    grants={{"{spec.owner}": frozenset({{"{resource}:read", "{resource}:write"}})}},'
    if len(grants) > LINE_LENGTH:  # exploded with trailing commas, as the formatter keeps it
        grants = (
            f'    grants={{\n        "{spec.owner}": frozenset(\n            {{\n'
            f'                "{resource}:read",\n                "{resource}:write",\n'
            "            }\n        ),\n    },"
        )
    return f'''"""The `{spec.name}` entity and who may read and change it.

Written by `gateway new entity`; edit freely. Invariants go in `__post_init__`
(raise `ValidationError`); `POLICY.visible` narrows which objects a caller sees (a
specification, compiled into every list's SQL); a use case replacing a generic
command is an `EntityService` subclass named in the declaration.
"""

from __future__ import annotations

{chr(10).join(imports)}{limits}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(eq=False, slots=True, kw_only=True)
class {spec.name}:
    """`id` is 0 until the repository stores it."""

{chr(10).join(attributes)}
    created_at: datetime = field(default_factory=_now)
    id: int = 0{invariants}


POLICY = Policy(
    read="{resource}:read",
    write="{resource}:write",
{grants}
)
'''


def _fitted(head: str, arguments: str) -> str:
    """`head(arguments)` on one line, or split as the formatter splits it."""
    line = f"{head}({arguments})"
    return line if len(line) <= LINE_LENGTH else f"{head}(\n        {arguments}\n    )"


def _exposed(spec: FieldSpec) -> str:
    if spec.target is not None:
        head = f"    {spec.name}: auto = many_to_one"
        return _fitted(head, f'"{spec.attribute}", "{spec.target}"')
    options = []
    if spec.kind.filters is not None:
        options.append(f"filters={spec.kind.filters}")
    if spec.kind.orderable:
        options.append("orderable=True")
    if spec.kind.name == "text":
        options.append("text=True")
    return _fitted(f"    {spec.name}: auto = declared", ", ".join(options))


def declaration(spec: EntitySpec) -> str:
    filter_sets = sorted(
        {f.kind.filters for f in spec.fields if f.target is None and f.kind.filters}
        | {"RANGE_FILTERS"}
    )
    helpers = ["declared", "entity"]
    if any(f.target is not None for f in spec.fields):
        helpers.append("many_to_one")
    fields = [_exposed(f) for f in spec.fields]
    # `entity` names the collection `<snake name>s` unless told otherwise.
    regular = spec.module == f"{snake_case(spec.name)}s"
    plural = "" if regular else f'\n    plural="{spec.module}",'
    return f'''"""The `{spec.name}` declaration: how it is stored and exposed.

Written by `gateway new entity`; edit freely. The options of `entity` and `declared`
are documented in `schema.entities`.
"""

from __future__ import annotations

from strawberry import auto

from domain import {spec.module}
from domain.model import {", ".join(filter_sets)}
from schema.entities import {", ".join(helpers)}
from schema.node import Node


@entity(
    {spec.module}.{spec.name},
    table="{spec.table}",{plural}
    policy={spec.module}.POLICY,
)
class {spec.name}(Node):
{chr(10).join(fields)}
    created_at: auto = declared(filters=RANGE_FILTERS, orderable=True, write=False)
'''
