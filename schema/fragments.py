"""Fragment bookkeeping shared by the operation limits and the cost calculator.

Both count on the fragment-expanded operation without ever expanding it: a fragment's
numbers are computed once, after the fragments it spreads, and reused at every spread.
That keeps the work linear in the document even when fragments fan out (a chain of
thirty fragments each spreading the next twice expands to 2^30 fields), and it needs
no recursion across fragments, so a long chain cannot exhaust Python's stack.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)

# Counts saturate here: large enough for any limit, small enough for JSON clients
# (a JavaScript number) and for formatting into a message.
SATURATION = 2**53 - 1


def saturated(value: int) -> int:
    return min(value, SATURATION)


def fragment_definitions(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }


def spread_names(selection_set: SelectionSetNode | None) -> Iterator[str]:
    """Names of the fragments spread anywhere inside a selection set (not through them)."""
    pending = [selection_set] if selection_set is not None else []
    while pending:
        current = pending.pop()
        for selection in current.selections:
            if isinstance(selection, FragmentSpreadNode):
                yield selection.name.value
            elif isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set:
                pending.append(selection.selection_set)


def evaluation_order(fragments: Mapping[str, FragmentDefinitionNode]) -> list[str]:
    """Fragment names, each after every fragment it spreads (cycles broken arbitrarily).

    Cycles are already a validation error (NoFragmentCyclesRule); here a spread that
    closes a cycle is simply not waited for, so the walk always ends.
    """
    order: list[str] = []
    seen: set[str] = set()
    for root in fragments:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, spread_names(fragments[root].selection_set))]
        while stack:
            name, children = stack[-1]
            for child in children:
                if child in fragments and child not in seen:
                    seen.add(child)
                    stack.append((child, spread_names(fragments[child].selection_set)))
                    break
            else:
                stack.pop()
                order.append(name)
    return order
