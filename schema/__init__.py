"""The GraphQL contract: Strawberry types and the schema factory."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaxTokensLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.schema import StreamResult
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.field import StrawberryField
from strawberry.types.graphql import OperationType

from schema import federation
from schema.declarations import application
from schema.entities import Declaration
from schema.entities.build import build_roots
from schema.error_extension import ErrorMapping
from schema.event_ids import EventIds
from schema.federation import FederatedSchema
from schema.input_limits import (
    DEFAULT_INPUT_LIMITS,
    InputLimits,
    document_length_error,
    variable_errors,
)
from schema.limits import Limits, OperationLimits
from schema.mutation import Mutation
from schema.parser_cache import ReportingParserCache
from schema.query import Query
from schema.subscriptions import Subscription

type ExtensionFactory = Callable[[], SchemaExtension]


@dataclass(frozen=True, slots=True)
class SchemaOptions:
    """Operation limits and exposure; every value is configurable from settings."""

    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5_000
    max_directives: int = 50
    max_root_fields: int = 20
    max_cost: int = 25_000
    report_cost: bool = True
    introspection: bool = True
    suggestions: bool = True
    mask_internal_errors: bool = True
    cache_size: int = 1_000
    input_limits: InputLimits = DEFAULT_INPUT_LIMITS
    # Serve as an Apollo Federation v2 subgraph (schema.federation).
    federation: bool = False


class GatewaySchema(strawberry.Schema):
    # Set by build_schema; the document length is checked before Strawberry parses.
    input_limits: InputLimits = DEFAULT_INPUT_LIMITS

    async def execute(  # Strawberry's signature
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Strawberry's execute, refusing an over-long document before parsing it."""
        refused = document_length_error(self.input_limits, query or "")
        if refused is not None:
            return PreExecutionError(data=None, errors=[refused])
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed_operation_types,
            operation_extensions,
        )

    async def stream(  # Strawberry's signature
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> StreamResult:
        """Strawberry's stream (WebSocket operations), with the same length check."""
        refused = document_length_error(self.input_limits, query or "")
        # Subscriptions skip the execution hooks where OperationLimits checks variables.
        bad_input = variable_errors(variable_values, self.input_limits)
        errors = [refused] if refused is not None else bad_input
        if not errors:
            return await super().stream(
                query,
                variable_values,
                context_value,
                root_value,
                operation_name,
                operation_extensions,
                allowed_operation_types,
            )

        async def refusal() -> AsyncGenerator[PreExecutionError]:
            yield PreExecutionError(data=None, errors=errors)

        return refusal()

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # ErrorMapping logs unexpected errors once, with the request id; expected ones
        # (bad input, not found, forbidden) are answers, not incidents.
        return None


class FederatedGatewaySchema(GatewaySchema, FederatedSchema):
    """The gateway's schema as a federation subgraph: the same checks, plus `_service`
    and `_entities`."""


def build_schema(
    options: SchemaOptions = SchemaOptions(),
    extra_extensions: Sequence[ExtensionFactory] = (),
    observers: Sequence[ExtensionFactory] = (),
    entities: Sequence[Declaration] | None = None,
) -> strawberry.Schema:
    """The gateway's schema with its limits, caches and error mapping.

    `observers` (tracing, metrics) come first: hooks are left in reverse order, so
    they see the whole operation and the errors after the mapping gave them codes.
    """
    # Factories, not instances: an extension keeps per-operation state, so each
    # operation gets its own. The parser and validation caches live at module level.
    extensions: list[ExtensionFactory] = [
        *observers,
        partial(
            ErrorMapping,
            mask_internal=options.mask_internal_errors,
            hide_suggestions=not options.suggestions,
        ),
        partial(MaxTokensLimiter, max_token_count=options.max_tokens),
        *_document_caches(options.cache_size),
        # Replaces Strawberry's depth and alias limiters, which walk every path through
        # the fragments (exponential when fragments fan out) and have no error codes.
        partial(
            OperationLimits,
            limits=_limits(options),
            input_limits=options.input_limits,
            report_cost=options.report_cost,
        ),
        *extra_extensions,
        EventIds,
    ]
    if not options.introspection:
        extensions.append(DisableIntrospection)
    declared = application() if entities is None else entities
    roots = build_roots(declared)
    query = _with_fields(Query, roots.query)
    mutation = _with_fields(Mutation, roots.mutation)
    subscription = _with_fields(Subscription, roots.subscription)
    types = list(roots.types)
    schema: GatewaySchema
    if options.federation:
        keys = federation.entity_types(types)
        with federation.keyed(keys):
            federated = FederatedGatewaySchema(
                query=_with_fields(query, {"service_": federation.service_field()}),
                mutation=mutation,
                subscription=subscription,
                types=types,
                extensions=extensions,
            )
            federated.subgraph_sdl = federation.print_subgraph(federated)
        federated.references = federation.references(keys, [d.name for d in declared])
        schema = federated
    else:
        schema = GatewaySchema(
            query=query,
            mutation=mutation,
            subscription=subscription,
            types=types,
            extensions=extensions,
        )
    schema.input_limits = options.input_limits
    return schema


def _with_fields(root: type, fields: Mapping[str, StrawberryField]) -> type:
    """`root` with the fields derived from the declarations (itself when there are none)."""
    if not fields:
        return root
    derived = type(root.__name__, (root,), dict(fields))
    return strawberry.type(derived, description=root.__strawberry_definition__.description)  # type: ignore[attr-defined]  # set by strawberry.type


def _document_caches(size: int) -> list[ExtensionFactory]:
    """Parsed and validated documents by their text; a size of 0 turns both off."""
    if size <= 0:
        return []
    return [partial(ReportingParserCache, maxsize=size), partial(ValidationCache, maxsize=size)]


def _limits(options: SchemaOptions) -> Limits:
    return Limits(
        max_depth=options.max_depth,
        max_aliases=options.max_aliases,
        max_directives=options.max_directives,
        max_root_fields=options.max_root_fields,
        max_tokens=options.max_tokens,
        max_cost=options.max_cost,
    )


def export_sdl(schema: strawberry.Schema | None = None) -> str:
    """The schema as SDL text, as committed in schema/schema.graphql."""
    return (schema or build_schema()).as_str().rstrip() + "\n"
