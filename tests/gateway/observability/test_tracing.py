"""Which tracer provider the settings give, and resolver spans only when asked for."""

from __future__ import annotations

import httpx
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.app import create_app
from gateway.container import build_container
from gateway.observability import build_observability
from gateway.observability.tracing import tracer_provider_for
from gateway.settings import Settings
from tests.gateway.conftest import World, as_user


def test_no_endpoint_means_no_export() -> None:
    provider = tracer_provider_for(None, service_name="gw")
    assert isinstance(provider, trace.NoOpTracerProvider)


def test_an_endpoint_gives_an_sdk_provider_with_the_service_name() -> None:
    provider = tracer_provider_for("http://collector:4318", service_name="gw", sample_ratio=0.5)
    assert isinstance(provider, TracerProvider)
    assert (provider.resource.attributes["service.name"], provider.sampler.get_description()) == (
        "gw",
        "ParentBased{root:TraceIdRatioBased{0.5},remoteParentSampled:AlwaysOnSampler,"
        "remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,"
        "localParentNotSampled:AlwaysOffSampler}",
    )
    provider.shutdown()


async def _resolver_span_names(
    settings: Settings,
    world: World,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> list[str]:
    exporter.clear()
    container = build_container(
        settings, build_observability(settings, tracer_provider=tracer_provider)
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings, container)),
            base_url="http://gateway.test",
        ) as client:
            response = await client.post(
                "/graphql", json={"query": "{ me { name } }"}, headers=as_user(world.alice)
            )
            assert response.json()["data"] == {"me": {"name": "Alice"}}
    finally:
        await container.aclose()
    return sorted(s.name for s in exporter.get_finished_spans() if "resolve" in s.name)


async def test_resolver_spans_are_off_by_default_and_on_by_setting(
    settings: Settings,
    world: World,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    off = await _resolver_span_names(settings, world, tracer_provider, span_exporter)
    settings.telemetry.resolver_spans = True
    on = await _resolver_span_names(settings, world, tracer_provider, span_exporter)
    assert (off, on) == ([], ["GraphQL resolve Query.me"])
