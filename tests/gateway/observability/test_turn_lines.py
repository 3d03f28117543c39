"""Access lines go out once a loop turn, and none is left behind on a clean stop."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gateway.app import create_app
from gateway.container import Container
from gateway.http.edge import EdgeMiddleware
from gateway.observability.logging import configure_logging, unconfigure_logging
from gateway.observability.metrics import Metrics
from gateway.observability.turn_lines import TurnLines, flush_all


class CountingOutput(io.BytesIO):
    """A binary output that remembers each write it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: Any) -> int:
        self.writes.append(bytes(data))
        return super().write(data)


async def test_the_lines_of_one_turn_are_written_with_one_write_when_it_ends() -> None:
    output = CountingOutput()
    lines = TurnLines(output)
    lines.add(b"one\n")
    lines.add(b"two\n")
    written_in_the_turn = output.getvalue()
    await asyncio.sleep(0)  # the turn ends; its callback ran before this task resumes
    lines.add(b"three\n")
    await asyncio.sleep(0)
    assert (written_in_the_turn, output.writes) == (b"", [b"one\ntwo\n", b"three\n"])


async def test_a_deferred_line_is_rendered_when_its_turn_is_written_in_its_place() -> None:
    output = CountingOutput()
    lines = TurnLines(output)
    rendered: list[str] = []

    def render(word: str) -> bytes:
        rendered.append(word)
        return f"{word}\n".encode()

    lines.add(b"one\n")
    lines.defer(render, "two")
    lines.add(b"three\n")
    assert rendered == []  # not in the middle of the turn's work
    await asyncio.sleep(0)
    assert (rendered, output.writes) == (["two"], [b"one\ntwo\nthree\n"])


def test_outside_a_running_loop_a_line_is_written_at_once() -> None:
    output = CountingOutput()
    TurnLines(output).add(b"now\n")
    TurnLines(output).defer(bytes, b"rendered now\n")
    assert output.writes == [b"now\n", b"rendered now\n"]


async def test_flushing_writes_the_pending_lines_and_the_turns_callback_writes_nothing_more() -> (
    None
):
    output = CountingOutput()
    lines = TurnLines(output)
    lines.add(b"pending\n")
    flush_all()  # as the app's shutdown and the exit hook do
    await asyncio.sleep(0)
    assert output.writes == [b"pending\n"]


def test_a_loop_closed_before_its_flush_ran_does_not_hold_the_next_loops_lines() -> None:
    output = CountingOutput()
    lines = TurnLines(output)
    first = asyncio.new_event_loop()

    async def add(line: bytes) -> None:
        lines.add(line)

    # run_until_complete stops in the turn the coroutine finished: its flush never ran.
    first.run_until_complete(add(b"first\n"))
    first.close()
    asyncio.run(add(b"second\n"))
    flush_all()
    assert output.getvalue() == b"first\nsecond\n"


async def _ok(_: Request) -> Response:
    return PlainTextResponse("ok")


def access_lines(raw: bytes) -> list[tuple[str, int]]:
    """(path, status) of each access line in `raw` (httpx and start-up log too)."""
    lines = [orjson.loads(line) for line in raw.splitlines()]
    return [(line["path"], line["status"]) for line in lines if line["logger"] == "gateway.access"]


@pytest.fixture
def output() -> Iterator[CountingOutput]:
    captured = CountingOutput()
    configure_logging("prod", "info", output=captured)
    yield captured
    unconfigure_logging()


async def test_concurrent_requests_finishing_in_one_turn_share_a_write(
    output: CountingOutput,
) -> None:
    app = EdgeMiddleware(Starlette(routes=[Route("/", _ok)]), metrics=Metrics())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        responses = await asyncio.gather(*(client.get("/") for _ in range(3)))
        await asyncio.sleep(0)
    access_writes = [data for data in output.writes if b'"gateway.access"' in data]
    assert (
        [response.status_code for response in responses],
        access_lines(output.getvalue()),
        [data.count(b"\n") for data in access_writes],
    ) == ([200, 200, 200], [("/", 200)] * 3, [3])


async def test_reconfiguring_logging_first_writes_the_lines_still_pending(
    output: CountingOutput,
) -> None:
    app = EdgeMiddleware(Starlette(routes=[Route("/", _ok)]), metrics=Metrics())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        await client.get("/")
    unwritten = access_lines(output.getvalue())
    configure_logging("prod", "info", output=io.BytesIO())
    assert (unwritten, access_lines(output.getvalue())) == ([], [("/", 200)])


async def test_the_apps_shutdown_leaves_no_access_line_unwritten(
    container: Container, output: CountingOutput
) -> None:
    app = create_app(container.settings, container)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            await client.get("/health/live")
        unwritten = access_lines(output.getvalue())
    assert (unwritten, access_lines(output.getvalue())) == ([], [("/health/live", 200)])
