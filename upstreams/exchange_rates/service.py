"""The example exchange-rate service: a Starlette app over a fixed rate table.

Run it on its own with `uvicorn upstreams.exchange_rates.service:app --port 8100` and
point the gateway at it with `UPSTREAMS__EXCHANGE_RATES__URL=http://127.0.0.1:8100`.
`Behaviour` makes it slow or failing (tests change it while it runs; `EXAMPLE_RATES_DELAY_SECONDS`
and `EXAMPLE_RATES_FAIL_STATUS` set it for a manual run), and `Stats` counts what it
saw: requests, the pairs asked for, and the most requests it was serving at once.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from graphql import build_schema, graphql
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# Units of each currency one US dollar buys (a fixed demo table, not market data).
PER_USD: dict[str, Decimal] = {
    "USD": Decimal(1),
    "EUR": Decimal("0.92"),
    "GBP": Decimal("0.79"),
    "CHF": Decimal("0.88"),
    "JPY": Decimal("151.20"),
    "CAD": Decimal("1.36"),
}
_PLACES = Decimal("0.000001")
# The same rates over GraphQL (`POST /graphql`), for the GraphQL upstream client.
SDL = """
type Rate { pair: String! rate: String! }
type Query { rates(pairs: [String!]!): [Rate!]! }
type Mutation { placeOrder(pair: String!): Boolean! }
"""
_SCHEMA = build_schema(SDL)


def rate(source: str, target: str) -> Decimal | None:
    """Units of `target` one unit of `source` buys, to six places; None when unknown."""
    if source not in PER_USD or target not in PER_USD:
        return None
    return (PER_USD[target] / PER_USD[source]).quantize(_PLACES)


@dataclass
class Behaviour:
    """How the service answers: after `delay_seconds` (and once `gate` is set, when
    there is one: a test holds requests in flight with it), and with `fail_status`
    instead of the rates when that is set."""

    delay_seconds: float = 0.0
    fail_status: int | None = None
    gate: asyncio.Event | None = None


@dataclass
class Stats:
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    # The latest query strings only: the embedded service lives as long as the gateway.
    queries: deque[str] = field(default_factory=lambda: deque(maxlen=100))


class ExchangeRateService:
    """The service: its behaviour, its stats, and the ASGI app serving them."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or Behaviour()
        self.stats = Stats()
        self.app = Starlette(
            routes=[
                Route("/rates", self.rates, methods=["GET"]),
                Route("/orders", self.order, methods=["POST"]),
                Route("/graphql", self.graphql, methods=["POST"]),
                Route("/health", self.health, methods=["GET"]),
            ]
        )

    async def _answer(self, request: Request, body: dict[str, object]) -> Response:
        stats, behaviour = self.stats, self.behaviour
        stats.requests += 1
        stats.queries.append(request.url.query)
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            if behaviour.delay_seconds > 0:
                await asyncio.sleep(behaviour.delay_seconds)
            if behaviour.gate is not None:
                await behaviour.gate.wait()
            if behaviour.fail_status is not None:
                return JSONResponse({"error": "failing on purpose"}, behaviour.fail_status)
            return JSONResponse(body)
        finally:
            stats.in_flight -= 1

    async def rates(self, request: Request) -> Response:
        """`GET /rates?pairs=USD:EUR,EUR:GBP`: the known pairs' rates, as strings."""
        found: dict[str, str] = {}
        for key in request.query_params.get("pairs", "").split(","):
            source, _, target = key.partition(":")
            value = rate(source, target)
            if value is not None:
                found[key] = str(value)
        return await self._answer(request, {"rates": found})

    async def graphql(self, request: Request) -> Response:
        """`POST /graphql`: `rates(pairs)` and the mutation `placeOrder` (not idempotent)."""
        body = await request.json()

        def rates(_info: object, pairs: list[str]) -> list[dict[str, str]]:
            found = []
            for key in pairs:
                source, _, target = key.partition(":")
                value = rate(source, target)
                if value is not None:
                    found.append({"pair": key, "rate": str(value)})
            return found

        root = {"rates": rates, "placeOrder": lambda _info, pair: True}
        result = await graphql(
            _SCHEMA, body.get("query", ""), root_value=root, variable_values=body.get("variables")
        )
        answer: dict[str, object] = {"data": result.data}
        if result.errors:
            answer["errors"] = [error.formatted for error in result.errors]
        return await self._answer(request, answer)

    async def order(self, request: Request) -> Response:
        """`POST /orders`: a currency order (not idempotent), for the retry tests."""
        return await self._answer(request, {"accepted": True})

    async def health(self, _: Request) -> Response:
        return JSONResponse({"status": "ok"})


def _from_environment() -> Behaviour:
    # The example is its own program: it reads its own variables, not the gateway's.
    status = os.environ.get("EXAMPLE_RATES_FAIL_STATUS")
    return Behaviour(
        delay_seconds=float(os.environ.get("EXAMPLE_RATES_DELAY_SECONDS", "0")),
        fail_status=int(status) if status else None,
    )


def __getattr__(name: str) -> object:
    # `uvicorn upstreams.exchange_rates.service:app`: built when asked for, so importing
    # the module (the gateway does, to embed the service) reads no environment.
    if name == "app":
        return ExchangeRateService(_from_environment()).app
    raise AttributeError(name)
