"""DATABASE__PING_AFTER_IDLE_SECONDS: read from the environment, never negative."""

from __future__ import annotations

import pytest

from gateway.settings import SettingsError, load_settings


def test_the_ping_window_defaults_to_one_second(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE__PING_AFTER_IDLE_SECONDS", raising=False)
    assert load_settings().database.ping_after_idle_seconds == 1.0


def test_the_ping_window_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE__PING_AFTER_IDLE_SECONDS", "0.25")
    assert load_settings().database.ping_after_idle_seconds == 0.25


def test_a_negative_ping_window_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE__PING_AFTER_IDLE_SECONDS", "-1")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert str(refused.value) == (
        "invalid setting DATABASE__PING_AFTER_IDLE_SECONDS: "
        "Input should be greater than or equal to 0 (got '-1')"
    )
