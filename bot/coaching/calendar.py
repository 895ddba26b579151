"""Working days, public holidays and the UTC instant of a local send time.

Local wall-clock time is turned into an instant per day with `zoneinfo`: a
send time inside a spring-forward gap moves to the first valid minute after
it; a time that happens twice (fall-back) is the first occurrence, and since
deliveries are keyed by local date it is sent once.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from bot.coaching.policy import parse_workdays
from storage.models import Team

DEFAULT_WORKDAYS = "mon-fri"


@dataclass(frozen=True, slots=True)
class WorkCalendar:
    """Which local dates are working days for a team."""

    workdays: tuple[int, ...]
    public_holidays: Container[date]

    def is_working_day(self, day: date) -> bool:
        """True on a team working day that is not a public holiday."""
        return day.weekday() in self.workdays and day not in self.public_holidays


@lru_cache(maxsize=256)
def _holidays(country: str, subdiv: str | None) -> holidays.HolidayBase:
    """The public holidays of a country (and subdivision); years load lazily."""
    return holidays.country_holidays(country, subdiv=subdiv)


def calendar_for(team: Team | None) -> WorkCalendar:
    """The working calendar of a team; no team means Monday to Friday, no holidays."""
    if team is None:
        return WorkCalendar(parse_workdays(DEFAULT_WORKDAYS), frozenset())
    public: Container[date] = frozenset()
    if team.holidays_country:
        public = _holidays(team.holidays_country, team.holidays_subdiv)
    return WorkCalendar(parse_workdays(team.workdays or DEFAULT_WORKDAYS), public)


def working_days_after(team: Team | None, start: date, days: int) -> date:
    """The date `days` working days after `start`."""
    calendar = calendar_for(team)
    current, left = start, days
    while left > 0:
        current += timedelta(days=1)
        if calendar.is_working_day(current):
            left -= 1
    return current


def _exists(wall: datetime, zone: ZoneInfo) -> bool:
    """True when the naive wall time `wall` happens in `zone` (not inside a DST gap)."""
    aware = wall.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall


def local_instant(day: date, at: time, timezone: str) -> datetime:
    """The UTC instant of local time `at` on `day` in `timezone`, DST-safe."""
    zone = ZoneInfo(timezone)
    wall = datetime.combine(day, at.replace(tzinfo=None, fold=0))
    while not _exists(wall, zone):
        wall += timedelta(minutes=1)
    return wall.replace(tzinfo=zone).astimezone(UTC)


def send_instant(day: date, send_time: str, timezone: str) -> datetime:
    """When a learner's daily message is due on local date `day`."""
    return local_instant(day, time.fromisoformat(send_time), timezone)


def local_date(moment: datetime, timezone: str) -> date:
    """The local date at `moment` in `timezone`."""
    return moment.astimezone(ZoneInfo(timezone)).date()
