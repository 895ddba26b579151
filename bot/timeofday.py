"""Times of day and timezone names as people type them, checked in one place."""

from __future__ import annotations

import re
import zoneinfo
from functools import cache

_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})")


def parse_time_of_day(text: str) -> str | None:
    """Normalise `9:05` or `09:05` to `09:05`; None if it is not a time of day."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        return None
    hour, minute = int(match[1]), int(match[2])
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


@cache
def timezone_names() -> frozenset[str]:
    """Every IANA timezone name this system knows (no file paths, no `localtime`)."""
    return frozenset(zoneinfo.available_timezones())
