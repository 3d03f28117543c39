"""The response cache's tests run the gateway with the cache on."""

from __future__ import annotations

import pytest

from gateway.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    on = settings.cache.model_copy(update={"enabled": True})
    return settings.model_copy(update={"cache": on})
