"""Load drivers: wrk with a generated Lua script, or a bounded asyncio fallback.

Both send keep-alive HTTP/1.1 from `connections` connections for at most `seconds`
(and at most `max_requests` in all, when given) and return one `LoadResult`.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

RESULT_PREFIX = "BENCH_RESULT "


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    # Bodies sent in turn instead of `body` (writes that must not collide; reads spread
    # over many rows).
    alternatives: tuple[bytes, ...] = ()
    # Paths sent in turn instead of `path` (REST reads spread over many rows).
    paths: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    duration_s: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int
    non_2xx: int


def _lua_string(value: str | bytes) -> str:
    text = value.decode() if isinstance(value, bytes) else value
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here


def wrk_script(request: Request, max_requests_per_thread: int | None) -> str:
    """The Lua script: the request, an optional per-thread stop, a JSON summary."""
    headers = "\n".join(
        f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in request.headers.items()
    )
    stop = (
        f"""
local count = 0
function response(status, headers, body)
  count = count + 1
  if count >= {max_requests_per_thread} then wrk.thread:stop() end
end
"""
        if max_requests_per_thread
        else ""
    )
    rotate = (
        "local bodies = {"
        + ", ".join(_lua_string(body) for body in request.alternatives)
        + "}\nlocal paths = {"
        + ", ".join(_lua_string(path) for path in request.paths)
        + """}
local turn = 0
function request()
  turn = turn + 1
  local body = nil
  local path = nil
  if #bodies > 0 then body = bodies[turn % #bodies + 1] end
  if #paths > 0 then path = paths[turn % #paths + 1] end
  return wrk.format(nil, path, nil, body)
end
"""
        if request.alternatives or request.paths
        else ""
    )
    return f"""
{rotate}
wrk.method = {_lua_string(request.method)}
wrk.path = {_lua_string(request.path)}
wrk.body = {_lua_string(request.body) if request.body else "nil"}
{headers}
{stop}
function done(summary, latency, requests)
  io.write(string.format(
    '{RESULT_PREFIX}{{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"errors": %d, "non_2xx": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout,
    summary.errors.status))
end
"""


def parse_wrk_output(output: str) -> LoadResult:
    """The JSON line the Lua `done` wrote; raises ValueError when it is missing."""
    for line in output.splitlines():
        if line.startswith(RESULT_PREFIX):
            raw = json.loads(line[len(RESULT_PREFIX) :])
            requests = int(raw["requests"])
            return LoadResult(
                requests=requests,
                duration_s=raw["duration_us"] / 1e6,
                p50_ms=raw["p50_us"] / 1000 if requests else None,
                p99_ms=raw["p99_us"] / 1000 if requests else None,
                errors=int(raw["errors"]),
                non_2xx=int(raw["non_2xx"]),
            )
    raise ValueError(f"wrk printed no result line:\n{output[-2000:]}")


def run_wrk(
    base_url: str,
    request: Request,
    *,
    seconds: float,
    connections: int,
    threads: int,
    max_requests: int | None,
    pin: list[str],
) -> LoadResult:
    wrk = shutil.which("wrk")
    assert wrk is not None
    per_thread = -(-max_requests // threads) if max_requests else None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(wrk_script(request, per_thread))
    try:
        command = [
            *pin,
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            script.name,
            base_url,
        ]
        done = subprocess.run(  # noqa: S603  # our own fixed command line
            command, capture_output=True, text=True, timeout=seconds + 30, check=False
        )
        return parse_wrk_output(done.stdout + done.stderr)
    finally:
        Path(script.name).unlink(missing_ok=True)


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of already sorted values (None when empty)."""
    if not sorted_values:
        return None
    # ceil(p * n), minus an epsilon so 0.99 * 100 is rank 99, not 100.
    rank = max(1, min(len(sorted_values), math.ceil(fraction * len(sorted_values) - 1e-9)))
    return sorted_values[rank - 1]


async def _connection(
    host: str,
    port: int,
    raws: Sequence[bytes],
    deadline: float,
    budget: list[int],
    latencies: list[float],
    tally: dict[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < deadline and budget[0] > 0:
            budget[0] -= 1
            began = time.perf_counter()
            writer.write(raws[budget[0] % len(raws)])
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - began) * 1000)
            parts = status_line.split()
            if len(parts) < 2 or not parts[1].startswith(b"2"):
                tally["non_2xx"] += 1
    except (OSError, asyncio.IncompleteReadError, ValueError):
        tally["errors"] += 1
    finally:
        writer.close()


def _raw_request(host: str, port: int, request: Request, body: bytes) -> bytes:
    headers = {"Host": f"{host}:{port}", "Content-Length": str(len(body))}
    headers.update(request.headers)
    head = f"{request.method} {request.path} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    return head.encode() + b"\r\n" + body


async def run_asyncio(
    host: str,
    port: int,
    request: Request,
    *,
    seconds: float,
    connections: int,
    max_requests: int | None,
) -> LoadResult:
    """The fallback when wrk is unavailable: slower, so it saturates less."""
    raws = (
        [_raw_request(host, port, request, body) for body in request.alternatives]
        or [
            _raw_request(host, port, replace(request, path=path), request.body)
            for path in request.paths
        ]
        or [_raw_request(host, port, request, request.body)]
    )
    latencies: list[float] = []
    tally = {"errors": 0, "non_2xx": 0}
    budget = [max_requests if max_requests else 1 << 62]
    began = time.monotonic()
    deadline = began + seconds
    await asyncio.wait_for(
        asyncio.gather(
            *(
                _connection(host, port, raws, deadline, budget, latencies, tally)
                for _ in range(connections)
            )
        ),
        timeout=seconds + 30,
    )
    elapsed = time.monotonic() - began
    latencies.sort()
    return LoadResult(
        requests=len(latencies),
        duration_s=elapsed,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        errors=tally["errors"],
        non_2xx=tally["non_2xx"],
    )
