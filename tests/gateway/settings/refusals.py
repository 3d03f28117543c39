"""Reading back the one-line refusal that loading settings from the environment gives."""

from __future__ import annotations

import pytest

from gateway.settings import SettingsError, load_settings


def refusal(monkeypatch: pytest.MonkeyPatch, **environ: str) -> str:
    """The message `load_settings` refuses these variables with."""
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    return str(refused.value)
