"""The baseline: a bare Starlette JSON route, served with the gateway's uvicorn options."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def hello(_: Request) -> Response:
    return JSONResponse({"data": {"hello": "world"}})


app = Starlette(routes=[Route("/json", hello, methods=["GET", "POST"])])
