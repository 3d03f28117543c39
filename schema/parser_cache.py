"""A parser cache that lets parse errors surface as ordinary request errors."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import ParserCache


class ReportingParserCache(ParserCache):
    """Strawberry's module-level LRU parser cache, minus one flaw.

    The stock cache raises a syntax error from inside the extension hook, outside
    Strawberry's own handling, so it bypasses the other extensions' result
    processing. On a failure we leave the document unset; Strawberry then parses
    the text itself and reports the error through the normal path.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        try:
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        except GraphQLError:
            context.graphql_document = None
        yield
