"""A short operation timeout for the tests of the timeout itself."""

from __future__ import annotations

from gateway.settings import Settings


def shorten_operation_timeout(settings: Settings, seconds: float) -> Settings:
    """`settings` with GRAPHQL__EXECUTION_TIMEOUT_SECONDS set to `seconds` after validation.

    The statement and Redis bounds stay at their defaults, above it: start-up refuses
    that, but these tests do not exercise it. The upstreams' bounds go below it (the
    example's and any configured), since the composition root checks those when it
    builds their clients.
    """
    settings.graphql.execution_timeout_seconds = seconds
    bound = {"timeout_seconds": seconds / 2, "deadline_seconds": seconds / 2}
    settings.upstreams = {
        name: settings.upstream(name).model_copy(update=bound)
        for name in {"exchange_rates", *settings.upstreams}
    }
    return settings
