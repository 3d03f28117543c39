"""Servers started by tests listen on ports from their worker's slice, below the
kernel's ephemeral range."""

from __future__ import annotations

import itertools
import socket
from pathlib import Path

import pytest

from tests import helpers


def test_each_worker_has_a_slice_of_its_own_below_the_ephemeral_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, set[int]] = {}
    for worker in ("gw0", "gw1", "gw2"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        seen[worker] = {helpers.free_port() for _ in range(50)}
    assert all(len(ports) == 50 for ports in seen.values())
    assert not seen["gw0"] & seen["gw1"]
    assert not seen["gw1"] & seen["gw2"]
    low = helpers.PORT_BASE + 2 * helpers.PORT_SLICE
    assert all(low <= port < low + helpers.PORT_SLICE for port in seen["gw2"])
    ranges = Path("/proc/sys/net/ipv4/ip_local_port_range")
    first_ephemeral = int(ranges.read_text().split()[0]) if ranges.exists() else 32768
    assert max(max(ports) for ports in seen.values()) < first_ephemeral


def test_a_port_something_listens_on_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    monkeypatch.setattr(helpers, "_ports", itertools.count())
    first = helpers.PORT_BASE + 3 * helpers.PORT_SLICE
    with socket.socket() as taken:
        try:
            taken.bind(("127.0.0.1", first))
        except OSError:
            pytest.skip(f"port {first} is in use on this machine")
        taken.listen()
        assert helpers.free_port() == first + 1
