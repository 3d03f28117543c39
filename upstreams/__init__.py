"""Upstream services behind schema fields: the adapters of the domain's ports that call
other services over HTTP.

Each upstream is one `Upstream` (`client.py`): one shared `httpx.AsyncClient` (made and
closed by the composition root) with a timeout per attempt and a deadline per call,
retries with exponential backoff and jitter for idempotent calls only (tenacity), a
circuit breaker (`breaker.py`) and a bulkhead (`bulkhead.py`). A failure reaches the
caller as `UpstreamUnavailableError` or `UpstreamTimeoutError` (domain errors: the
field is null with that code, the rest of the response stands).

`sources.py` asks declared sources (`domain.upstreams.UpstreamSource`: an HTTP/JSON call
or a GraphQL document per batch of keys) through their upstream's `Upstream`; the
composition root builds one per upstream a declared field names (`UPSTREAMS__<name>__*`).
`exchange_rates/` is the example exchange-rate service itself (a small Starlette app).
"""
