"""The README's example outputs are what a freshly seeded gateway answers.

Each example's request is read from the README's `sh` block and its answer from the
`json` block after it (marked `<!-- example: NAME -->`); the gateway runs on a database
seeded as `make run` seeds it (`gateway seed --once`: 50 users, 40 items, 200 orders,
seed 42), after its scheduled jobs have run once, as they do when `make run` starts.
The top-level `extensions` (the cost and rate-limit report every response carries,
with a reset time) are left out of the README, as it says, and of the comparison.
`UPDATE_README=1` rewrites the json blocks from what the gateway answered.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.background.jobs import application_jobs
from gateway.container import build_container
from gateway.demo_seed import seed_demo
from gateway.settings import Settings
from persistence import migrate

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE = re.compile(
    r"<!-- example: (?P<name>[\w-]+) -->\n+```sh\n(?P<sh>.*?)```\n+```json\n(?P<json>.*?)```",
    re.S,
)


def examples(text: str) -> dict[str, tuple[str, str]]:
    return {m["name"]: (m["sh"], m["json"]) for m in EXAMPLE.finditer(text)}


def curl_body(sh: str) -> dict[str, Any]:
    """The JSON body of the example's last `curl ... -d '{...}'` (the one shown answered)."""
    words = shlex.split(sh.split("\n\ncurl")[-1].replace("\\\n", " "))
    return dict(json.loads(words[words.index("-d") + 1]))


def render(answer: dict[str, Any]) -> str:
    return json.dumps(answer, indent=2, ensure_ascii=False) + "\n"


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    settings = Settings(
        database={"url": url},
        security={
            "dev_key_file": tmp_path / "key",
            "argon2_time_cost": 1,
            "argon2_memory_kib": 1024,
            "admin_password": "Admin-Password-2026",
        },
    )
    await migrate.upgrade(url)
    await seed_demo(settings, users=50, items=40, orders=200, seed=42, once=True)
    container = build_container(settings)
    # What `make run`'s first second does besides serving: the embedded scheduler runs
    # every job once at start-up (the unpaid-order job among them), so the answers are
    # those of data the jobs have already seen.
    for job in application_jobs(settings.jobs, container.services, audit=settings.audit):
        await job.run()
    transport = httpx.ASGITransport(app=create_app(settings, container))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
            yield c
    finally:
        await container.aclose()


async def answers(client: httpx.AsyncClient, text: str) -> dict[str, dict[str, Any]]:
    login = await client.post(
        "/graphql",
        json=curl_body(examples(text)["orders"][0].split("\n\ncurl")[0]),
    )
    token = login.json()["data"]["login"]["accessToken"]
    answered = {}
    for name, (sh, _) in examples(text).items():
        headers = {"authorization": f"Bearer {token}"} if "$TOKEN" in sh else {}
        response = await client.post("/graphql", json=curl_body(sh), headers=headers)
        body = response.json()
        body.pop("extensions", None)
        answered[name] = body
    return answered


async def test_the_readme_examples_answer_as_shown(gateway: httpx.AsyncClient) -> None:
    text = README.read_text(encoding="utf-8")
    assert sorted(examples(text)) == ["bad-input", "catalog", "orders", "upstream"]
    answered = await answers(gateway, text)
    if os.environ.get("UPDATE_README") == "1":
        for name, (_, block) in examples(text).items():
            text = text.replace(f"```json\n{block}```", f"```json\n{render(answered[name])}```", 1)
        README.write_text(text, encoding="utf-8")
    shown = {name: json.loads(block) for name, (_, block) in examples(text).items()}
    assert shown == answered, "README examples are stale: run UPDATE_README=1 pytest tests/docs"


def test_no_readme_command_needs_uv_on_the_path() -> None:
    # `make sync` runs uv as `python3.12 -m uv`; the README's commands use make or .venv/bin.
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    assert [line for line in lines if line.startswith("uv ")] == []
