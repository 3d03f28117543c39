"""`gateway probe`: this machine's health endpoint asked over loopback, for a container
HEALTHCHECK (the image has no curl, and the port comes from the same settings as the
server's)."""

from __future__ import annotations

import http.client
from typing import Literal

from gateway.settings import ServerSettings

type Check = Literal["live", "ready"]
CHECKS: tuple[Check, ...] = ("live", "ready")
# A server bound to every address is asked on loopback.
_ANY = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104  # names, not binds


class ProbeError(Exception):
    """The probe failed: unknown check, no answer, or not a 200."""


def probe_health(server: ServerSettings, check: str, *, timeout: float) -> str:
    """GET /health/<check> on the configured port; the answer's body, or ProbeError."""
    if check not in CHECKS:
        raise ProbeError(f"unknown check {check!r}: expected one of {', '.join(CHECKS)}")
    path = f"/health/{check}"
    host = _ANY.get(server.host, server.host)
    connection = http.client.HTTPConnection(host, server.port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"user-agent": "gateway-probe"})
        response = connection.getresponse()
        body = response.read().decode("utf-8", "replace").strip()
    except OSError as exc:
        raise ProbeError(f"{path} on {host}:{server.port}: {exc}") from None
    finally:
        connection.close()
    if response.status != 200:
        raise ProbeError(f"{path} on {host}:{server.port} answered {response.status}: {body}")
    return body
