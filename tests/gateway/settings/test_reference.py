"""docs/configuration.md and .env.example are generated from the model and kept fresh."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from gateway.settings import Settings
from gateway.settings.loading import map_entry
from gateway.settings.reference import outputs, settings


@pytest.mark.parametrize("path", list(outputs()), ids=lambda path: Path(path).name)
def test_the_committed_reference_is_fresh(path: Path) -> None:
    committed = path.read_text(encoding="utf-8") if path.exists() else ""
    assert committed == outputs()[path], f"{path.name} is stale: run `make config-docs`"


def test_every_setting_is_documented() -> None:
    undocumented = [setting.variable for setting in settings() if not setting.description]
    assert undocumented == []


def test_the_reference_lists_every_setting_once() -> None:
    expected = []
    for name, field in Settings.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            expected += [f"{name}__{sub}".upper() for sub in section.model_fields]
        elif (entry := map_entry(section)) is not None:  # UPSTREAMS__<NAME>__URL, ...
            expected += [f"{name.upper()}__<NAME>__{sub.upper()}" for sub in entry.model_fields]
        else:
            expected.append(name.upper())
    assert [setting.variable for setting in settings()] == expected


def test_env_example_values_are_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    # Uncommenting any line of .env.example changes nothing and breaks nothing.
    before = Settings(_env_file=None)
    text = next(text for path, text in outputs().items() if path.name == ".env.example")
    uncommented = 0
    for line in text.splitlines():
        name, equals, value = line.removeprefix("# ").partition("=")
        if equals and name.isupper() and value:
            monkeypatch.setenv(name, value)
            uncommented += 1
    assert uncommented > 70
    after = Settings(_env_file=None)
    # The example's upstream entry, all defaults, is what no entry means.
    assert after.upstreams.keys() == {"exchange_rates"}
    assert after.upstream("exchange_rates") == before.upstream("exchange_rates")
    assert after.model_copy(update={"upstreams": {}}) == before
