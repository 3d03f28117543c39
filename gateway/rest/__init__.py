"""The REST fallback: routes generated from the schema and named `.graphql` operations,
each executed as a GraphQL document; OpenAPI 3.1 at `/openapi.json`, reference at `/docs`."""

from gateway.rest.api import VERSIONS, ApiVersion, RestApi

__all__ = ["VERSIONS", "ApiVersion", "RestApi"]
