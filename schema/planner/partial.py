"""An operation answered in two parts: the planned root fields by the read model, the
others (`Plan.fallback`) by the resolvers, the response keys in the document's order.

The resolvers are given the operation with the planned root fields taken out; only
operations whose root selections are all fields get here (`compile._plain`), so a
root field is taken out by its response key alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import DocumentNode, FieldNode, OperationDefinitionNode, SelectionSetNode


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for operation in operations:
        if name is None or (operation.name is not None and operation.name.value == name):
            return operation
    raise LookupError(f"no operation {name}")  # validation has run: never for a real document


def _key(node: FieldNode) -> str:
    return (node.alias or node.name).value


def _fields(operation: OperationDefinitionNode) -> list[FieldNode]:
    return [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]


def keeping(
    document: DocumentNode, operation_name: str | None, keys: frozenset[str]
) -> DocumentNode:
    """`document` with the chosen operation's root fields limited to `keys`."""
    operation = _operation(document, operation_name)
    kept = tuple(node for node in _fields(operation) if _key(node) in keys)
    same = {name: getattr(operation, name) for name in operation.keys if name != "selection_set"}
    reduced = OperationDefinitionNode(**same, selection_set=SelectionSetNode(selections=kept))
    definitions = tuple(reduced if d is operation else d for d in document.definitions)
    return DocumentNode(definitions=definitions)


def merged(
    document: DocumentNode,
    operation_name: str | None,
    planned: Mapping[str, Any],
    resolved: Mapping[str, Any],
) -> dict[str, Any]:
    """Both parts' values by response key, in the order the executor writes them."""
    data: dict[str, Any] = {}
    for node in _fields(_operation(document, operation_name)):
        key = _key(node)
        if key in data:
            continue
        if key in planned:
            data[key] = planned[key]
        elif key in resolved:  # absent when skipped (`@skip`, `@include`)
            data[key] = resolved[key]
    return data
