"""Another GraphQL endpoint as an upstream: `POST {query, variables}` through `Upstream`.

The operation's type decides the retries: a query reads, so it is idempotent and
retried like a GET although it travels by POST; a mutation is sent once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse

from domain.errors import UpstreamUnavailableError
from upstreams.client import Upstream


def is_query(document: str) -> bool:
    """Whether every operation of `document` is a query; raises ValueError when it does
    not parse (the adapter's own documents: a programming error)."""
    try:
        parsed = parse(document, no_location=True)
    except GraphQLError as error:
        raise ValueError(f"not a GraphQL document: {error.message}") from None
    return all(
        d.operation is OperationType.QUERY
        for d in parsed.definitions
        if isinstance(d, OperationDefinitionNode)
    )


class GraphQLUpstream:
    """One GraphQL endpoint of an upstream (`path` under its base URL)."""

    def __init__(self, upstream: Upstream, path: str = "/graphql") -> None:
        self._upstream, self._path = upstream, path

    async def execute(
        self, document: str, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The answer's `data`. Raises UpstreamUnavailableError (also for an answer with
        errors and no data, or one that is not GraphQL) or UpstreamTimeoutError."""
        name = self._upstream.name
        response = await self._upstream.request(
            "POST",
            self._path,
            json={"query": document, "variables": dict(variables or {})},
            idempotent=is_query(document),
        )
        try:
            body = response.json()
            data, errors = body.get("data"), body.get("errors")
        except (ValueError, AttributeError):
            raise UpstreamUnavailableError(name, "answered something other than GraphQL") from None
        if not isinstance(data, dict):
            first = errors[0].get("message") if isinstance(errors, list) and errors else None
            reason = f"answered errors: {first}" if first else f"answered {response.status_code}"
            raise UpstreamUnavailableError(name, reason)
        return data
