"""The project a scaffold writes into: where its packages live and what it already declares."""

from __future__ import annotations

from pathlib import Path

import graphql

import domain
from domain.rbac import default_registry
from gateway.container import application_tables, checked_entities
from gateway.scaffold.spec import Known
from schema import export_sdl
from schema.declarations import application
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
    models, _ = checked_entities(application())
    entity_tables = {model.name: model.table for model in models}
    return Known(
        entities=frozenset(entities),
        types=frozenset(types),
        tables=frozenset(application_tables().tables),
        roles=default_registry().names,
        node_fields=frozenset(name for name in dir(Node) if not name.startswith("_")),
        entity_tables=entity_tables,
    )
