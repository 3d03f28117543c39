"""Reading the settings once: every error in one line naming its variable.

Unknown variables that look like ours (`SERVER_PORT`, `DATABASE__POOLSIZE`) are not
errors, since the environment is shared with other programs, but they are returned as
warnings for the start-up log: a misspelt setting otherwise does nothing, silently.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

import pydantic_settings
from pydantic import BaseModel, ValidationError
from pydantic_settings import DotEnvSettingsSource

from gateway.settings.model import Settings

SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN", "PRIVATE_KEY")


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the environment variable."""


def variable_name(location: Iterable[int | str]) -> str:
    # A map's key that is refused is reported at `[key]` (`UPSTREAMS__<name>`).
    parts = (str(part) for part in location if part != "[key]")
    return "__".join(parts).upper() or "settings"


def _shown(variable: str, value: object) -> str:
    if any(word in variable for word in SECRET_WORDS):
        return "(hidden)"
    if variable == "DATABASE__URL" and isinstance(value, str) and "@" in value:
        scheme, _, rest = value.partition("://")
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        value = f"{scheme}://{user}:***@{host}" if ":" in credentials else value
    return repr(value)


def _describe(error: Mapping[str, Any]) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "value_error" and not error["loc"]:
        return message
    # A nested model given a non-object (`SECURITY=oops`) reports the model, not a field.
    variable = variable_name(part for part in error["loc"] if isinstance(part, str))
    return f"{variable}: {message} (got {_shown(variable, error.get('input'))})"


def load_settings(**overrides: object) -> Settings:
    """Read the settings once; raises SettingsError listing every problem in one line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]  # pydantic validates the values
    except ValidationError as exc:
        problems = [_describe(error) for error in exc.errors()]
        if len(problems) == 1 and not exc.errors()[0]["loc"]:
            raise SettingsError(f"invalid settings: {problems[0]}") from None
        noun = "setting" if len(problems) == 1 else "settings"
        raise SettingsError(f"invalid {noun} {'; '.join(problems)}") from None
    except pydantic_settings.SettingsError as exc:
        # A whole section given as JSON that does not parse (`SECURITY='{...'`).
        raise SettingsError(f"invalid settings: {_section_of(exc)} is not valid JSON") from None


def _section_of(exc: pydantic_settings.SettingsError) -> str:
    text = str(exc)
    for name in Settings.model_fields:
        if f'field "{name}"' in text:
            return name.upper()
    return text


def map_entry(annotation: object) -> type[BaseModel] | None:
    """The entry model of a `dict[str, SomeSettings]` field, else None."""
    if get_origin(annotation) is not dict:
        return None
    entry = get_args(annotation)[1]
    return entry if isinstance(entry, type) and issubclass(entry, BaseModel) else None


# Sections that are maps of entries by name.
_MAPS = frozenset(
    name.upper() for name, field in Settings.model_fields.items() if map_entry(field.annotation)
)
# Sections that moved into a map: their variables are warned about with the new name.
_MOVED = {"EXCHANGE_RATES": "UPSTREAMS__EXCHANGE_RATES"}


def _fields() -> dict[str, set[str]]:
    """Section -> its variables' second halves ("" for the top-level settings); a map of
    sections by name (`UPSTREAMS__<name>__URL`) has its entries' fields."""
    fields: dict[str, set[str]] = {"": set()}
    for name, field in Settings.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            fields[name.upper()] = {sub.upper() for sub in model.model_fields}
        elif (entry := map_entry(field.annotation)) is not None:
            fields[name.upper()] = {sub.upper() for sub in entry.model_fields}
        else:
            fields[""].add(name.upper())
    return fields


def _environment(env_file: Path | None) -> dict[str, str]:
    merged = {name.upper(): value for name, value in os.environ.items()}
    if env_file is not None and env_file.is_file():
        dotenv = DotEnvSettingsSource(Settings, env_file=env_file)
        merged.update({key.upper(): str(value) for key, value in dotenv.env_vars.items()})
    return merged


def _close(word: str, candidates: Iterable[str]) -> str | None:
    return next(iter(difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.75)), None)


def _suggestion(name: str, fields: Mapping[str, set[str]]) -> str | bool | None:
    """The variable meant, None when it looks like ours but matches none, False if not ours."""
    head, nested, rest = name.partition("__")
    if nested and head in _MOVED:
        return f"{_MOVED[head]}__{rest}"
    if nested and head in _MAPS:
        entry, _, field = rest.partition("__")
        close = field if field in fields[head] else _close(field, fields[head])
        return f"{head}__{entry}__{close}" if entry and close is not None else None
    sections = [section for section in fields if section]
    if not nested:
        # SERVER_PORT: one underscore where two belong.
        section = next((s for s in sections if name.startswith(f"{s}_")), None)
        if section is None:
            return False
        rest = name.removeprefix(f"{section}_")
    else:
        section = head if head in fields else _close(head, sections)
        if section is None:
            return False  # FOO__BAR belongs to another program
    sub = rest if rest in fields[section] else _close(rest, fields[section])
    return f"{section}__{sub}" if sub is not None else None


def unknown_variables(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> list[str]:
    """One warning per variable that looks like a setting but is none (with a suggestion)."""
    fields = _fields()
    known = fields[""] | {f"{s}__{sub}" for s, subs in fields.items() if s for sub in subs}
    in_map = {f"{s}__" for s in _MAPS}
    names = sorted(
        {name.upper() for name in environ} if environ is not None else _environment(env_file)
    )
    warnings = []
    for name in names:
        if name in known or name in fields:
            continue
        head, _, rest = name.partition("__")
        entry, nested, field = rest.partition("__")
        if f"{head}__" in in_map and entry and (not nested or field in fields[head]):
            continue  # UPSTREAMS__<name>__URL, or UPSTREAMS__<name> as JSON
        guess = _suggestion(name, fields)
        if guess is False:
            continue
        hint = f" (did you mean {guess}?)" if guess else ""
        warnings.append(f"{name} is not a setting and is ignored{hint}")
    return warnings
