"""How Alembic's autogenerate writes a migration: portable column types, no application imports.

A migration is a frozen record of a schema change, so it must not import application code:
the module a type lives in moves (or goes) long after the migration ran. Autogenerate by
default renders a type defined outside SQLAlchemy by its module path
(`persistence.tables.UtcDateTime()`, `sqlmodel.sql.sqltypes.AutoString()`) without
importing that module, and the migration dies with a NameError. Here:

- a `TypeDecorator` is rendered as the SQLAlchemy type it stores (its `impl`): Python-side
  conversion is the model's business, the database only ever sees the impl;
- a `UserDefinedType` (a type the database defines, such as a vector) keeps its class, and
  the migration imports the module that defines it.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from alembic.autogenerate.api import AutogenContext
from alembic.autogenerate.render import _repr_type  # the renderer render_item hands back to

__all__ = ["portable_type", "render_item"]


def portable_type(type_: sa.types.TypeEngine[Any]) -> sa.types.TypeEngine[Any]:
    """`type_` with every `TypeDecorator` (and its dialect variants) replaced by its impl."""
    variants: dict[str, sa.types.TypeEngine[Any]] = getattr(type_, "_variant_mapping", {})
    plain = type_
    while isinstance(plain, sa.types.TypeDecorator):
        plain = plain.impl_instance
    if plain is type_ or not variants:
        return plain
    for dialect, variant in sorted(variants.items()):
        plain = plain.with_variant(portable_type(variant), dialect)
    return plain


def render_item(kind: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Alembic's `render_item` hook: render column types so the migration runs on its own."""
    if kind != "type" or not isinstance(obj, sa.types.TypeEngine):
        return False
    if isinstance(obj, sa.types.TypeDecorator):
        return _repr_type(portable_type(obj), autogen_context)
    module = type(obj).__module__
    if isinstance(obj, sa.types.UserDefinedType) and not module.startswith("sqlalchemy."):
        autogen_context.imports.add(f"import {module}")
        return f"{module}.{obj!r}"
    return False
