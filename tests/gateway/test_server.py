"""`gateway serve`'s tuning: uvicorn options and the GC after start-up."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gateway.http.header_timeout import H11HeaderTimeout, HttpToolsHeaderTimeout
from gateway.server import tune_gc, uvicorn_options
from gateway.settings import ServerSettings


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_serve_uses_uvloop_and_httptools_without_uvicorns_access_log() -> None:
    options = uvicorn_options(ServerSettings(), "info")
    http = options.pop("http")
    assert (http.func, http.keywords) == (HttpToolsHeaderTimeout, {"header_timeout": 10.0})
    assert options == {
        "loop": "uvloop",
        "log_config": None,
        "access_log": False,
        "log_level": "info",
        "proxy_headers": False,
        "server_header": False,
        "timeout_graceful_shutdown": 20,
        "timeout_keep_alive": 5.0,
    }


def test_each_tuning_can_be_turned_off_for_a_before_and_after_measurement() -> None:
    plain = ServerSettings(loop="asyncio", http="h11", access_log=True)
    options = uvicorn_options(plain, "info")
    assert (options["loop"], options["http"].func, options["access_log"]) == (
        "asyncio",
        H11HeaderTimeout,
        True,
    )


@pytest.mark.usefixtures("restored_gc")
def test_gc_tuning_freezes_start_up_objects_and_raises_the_gen0_threshold() -> None:
    _, gen1, gen2 = gc.get_threshold()
    tune_gc(freeze=True, threshold=50_000)
    assert gc.get_threshold() == (50_000, gen1, gen2)
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("restored_gc")
def test_gc_tuning_off_leaves_the_collector_alone() -> None:
    before = gc.get_threshold()
    tune_gc(freeze=False, threshold=0)
    assert (gc.get_threshold(), gc.get_freeze_count()) == (before, 0)
