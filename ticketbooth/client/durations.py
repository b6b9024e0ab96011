"""``--expires 7d``: durations as people type them, parsed to whole seconds (pure)."""
from __future__ import annotations

import re

__all__ = ["UNITS", "parse_duration"]

#: Suffix -> seconds. No months or years: their length varies, give days.
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

_PART = re.compile(r"(\d+)([smhdw])")
# Far below datetime's limit and the API's: a typo like 99999999d is refused here, clearly.
_MAX_SECONDS = 100 * 365 * 86400


def parse_duration(text: str) -> int:
    """Seconds in ``text``: ``90`` (seconds), ``30m``, ``12h``, ``7d``, ``2w``, or combined (``1d12h``).

    Raises ``ValueError`` with a message for anything else, for zero, and for more than 100 years.
    """
    value = text.strip().lower()
    if value.isdigit():
        seconds = int(value)
    else:
        parts = _PART.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise ValueError(f"{text!r} is not a duration (use e.g. 90, 30m, 12h, 7d, 2w or 1d12h)")
        seconds = sum(int(number) * UNITS[unit] for number, unit in parts)
    if seconds <= 0:
        raise ValueError("a duration must be longer than zero")
    if seconds > _MAX_SECONDS:
        raise ValueError(f"{text!r} is longer than 100 years")
    return seconds
