"""An outage is logged when it starts, summed up while it lasts, and when it ends."""

from __future__ import annotations

from structlog.testing import capture_logs

from persistence.outages import Outage


class Ticks:
    def __init__(self) -> None:
        self.value = 100.0

    def __call__(self) -> float:
        return self.value


def test_a_failure_a_second_for_three_minutes_is_four_lines() -> None:
    ticks = Ticks()
    outage = Outage("redis", component="event bus", summary_seconds=60, clock=ticks)
    with capture_logs() as logs:
        outage.succeeded()  # nothing was down: nothing to say
        for _ in range(180):
            outage.failed(ConnectionError("Connection refused"))
            ticks.value += 1
        outage.succeeded()
        outage.succeeded()
    assert [
        (log["event"], log["log_level"], log.get("failures"), log.get("seconds")) for log in logs
    ] == [
        ("dependency outage started", "warning", None, None),
        ("dependency outage continues", "warning", 61, 60.0),
        ("dependency outage continues", "warning", 121, 120.0),
        ("dependency outage ended", "info", 180, 180.0),
    ]
    assert {(log["dependency"], log["component"]) for log in logs} == {("redis", "event bus")}
    assert logs[0]["error"] == "ConnectionError: Connection refused"
    assert all("exc_info" not in log for log in logs)


def test_a_new_outage_starts_its_own_count() -> None:
    ticks = Ticks()
    outage = Outage("database", component="queries", clock=ticks)
    with capture_logs() as logs:
        outage.failed(OSError("reset"))
        outage.failed(OSError("reset"))
        outage.succeeded()
        ticks.value += 5
        outage.failed(TimeoutError())
        outage.succeeded()
    assert [(log["event"], log.get("failures"), log.get("error")) for log in logs] == [
        ("dependency outage started", None, "OSError: reset"),
        ("dependency outage ended", 2, None),
        ("dependency outage started", None, "TimeoutError"),
        ("dependency outage ended", 1, None),
    ]
