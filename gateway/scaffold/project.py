"""The project a scaffold writes into: where its packages live and what it already declares."""

from __future__ import annotations

from pathlib import Path

import graphql

import domain
from domain.rbac import default_registry
from gateway.scaffold.spec import Known
from persistence import tables
from schema import export_sdl
from schema.node import Node

# The checkout the packages are imported from (`python -m gateway` in a copy of the
# project imports the copy's, so the scaffold writes there).
ROOT = Path(domain.__file__).resolve().parent.parent


def known_in_project() -> Known:
    """The entities, GraphQL types, tables and roles of the project as it stands."""
    schema = graphql.build_schema(export_sdl())
    node = schema.get_type("Node")
    types = {name for name in schema.type_map if not name.startswith("__")}
    entities = {
        name
        for name, gql_type in schema.type_map.items()
        if isinstance(gql_type, graphql.GraphQLObjectType) and node in gql_type.interfaces
    }
    return Known(
        entities=frozenset(entities),
        types=frozenset(types),
        tables=frozenset(tables.METADATA.tables),
        roles=default_registry().names,
        node_fields=frozenset(name for name in dir(Node) if not name.startswith("_")),
    )
