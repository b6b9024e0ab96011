"""config/ticketbooth.example.toml documents every setting, with the defaults settings.py has."""
from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

from ticketbooth.settings import Settings, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "ticketbooth.example.toml"


def names(cls: type, prefix: str = "") -> set[str]:
    result = set()
    defaults = cls()
    for f in dataclasses.fields(cls):
        value = getattr(defaults, f.name)
        if dataclasses.is_dataclass(value):
            result |= names(type(value), f"{prefix}{f.name}.")
        else:
            result.add(prefix + f.name)
    return result


def flatten(data: dict, prefix: str = "") -> set[str]:
    result = set()
    for key, value in data.items():
        if isinstance(value, dict) and key != "groups":
            result |= flatten(value, f"{prefix}{key}.")
        else:
            result.add(prefix + key)
    return result


def test_example_names_every_setting():
    assert flatten(tomllib.loads(EXAMPLE.read_text())) == names(Settings)


def test_example_loads_to_the_defaults():
    assert load_settings(EXAMPLE, environ={}) == Settings()
