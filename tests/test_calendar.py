"""Local send time → UTC per day (DST gaps and repeats), working days and public holidays."""

from datetime import UTC, date, datetime

import pytest

from bot.coaching.calendar import calendar_for, local_date, send_instant, working_days_after
from storage.models import Team


def utc(*parts: int) -> datetime:
    """An aware UTC datetime."""
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "day", "at", "expected"),
    [
        # Ordinary days, both sides of each zone's DST change.
        ("Europe/London", date(2026, 1, 12), "09:00", utc(2026, 1, 12, 9, 0)),
        ("Europe/London", date(2026, 7, 13), "09:00", utc(2026, 7, 13, 8, 0)),
        ("America/New_York", date(2026, 1, 12), "09:00", utc(2026, 1, 12, 14, 0)),
        ("America/New_York", date(2026, 7, 13), "09:00", utc(2026, 7, 13, 13, 0)),
        ("Australia/Sydney", date(2026, 1, 12), "09:00", utc(2026, 1, 11, 22, 0)),
        ("Australia/Sydney", date(2026, 7, 13), "09:00", utc(2026, 7, 12, 23, 0)),
        ("Asia/Kolkata", date(2026, 7, 13), "09:00", utc(2026, 7, 13, 3, 30)),
        # Spring forward: a time in the gap moves to the first valid minute.
        ("America/New_York", date(2026, 3, 8), "02:30", utc(2026, 3, 8, 7, 0)),
        ("America/New_York", date(2026, 3, 8), "02:00", utc(2026, 3, 8, 7, 0)),
        ("America/New_York", date(2026, 3, 8), "03:00", utc(2026, 3, 8, 7, 0)),
        ("America/New_York", date(2026, 3, 8), "01:59", utc(2026, 3, 8, 6, 59)),
        ("Europe/London", date(2026, 3, 29), "01:30", utc(2026, 3, 29, 1, 0)),
        ("Australia/Sydney", date(2026, 10, 4), "02:30", utc(2026, 10, 3, 16, 0)),
        # Fall back: a repeated time is its first occurrence.
        ("America/New_York", date(2026, 11, 1), "01:30", utc(2026, 11, 1, 5, 30)),
        ("Europe/London", date(2026, 10, 25), "01:30", utc(2026, 10, 25, 0, 30)),
        ("Australia/Sydney", date(2026, 4, 5), "02:30", utc(2026, 4, 4, 15, 30)),
    ],
)
def test_send_instant_is_the_right_utc_minute(zone, day, at, expected):
    assert send_instant(day, at, zone) == expected
    assert local_date(expected, zone) == day


def test_the_instant_is_always_aware_utc():
    moment = send_instant(date(2026, 3, 8), "02:30", "America/New_York")
    assert moment.tzinfo is UTC


def test_without_a_team_monday_to_friday_work_and_holidays_do_not_exist():
    calendar = calendar_for(None)
    week = [date(2026, 12, 21 + offset) for offset in range(7)]  # Mon 21 … Sun 27
    assert [calendar.is_working_day(day) for day in week] == [True] * 5 + [False] * 2


def test_a_teams_public_holidays_are_not_working_days():
    team = Team(name="front", holidays_country="GB", holidays_subdiv="ENG")
    calendar = calendar_for(team)
    assert not calendar.is_working_day(date(2026, 12, 25))  # Christmas, a Friday
    assert not calendar.is_working_day(date(2026, 12, 28))  # Boxing Day moved to Monday
    assert calendar.is_working_day(date(2026, 12, 29))


def test_subdivisions_have_their_own_holidays():
    scotland = calendar_for(Team(name="sco", holidays_country="GB", holidays_subdiv="SCT"))
    england = calendar_for(Team(name="eng", holidays_country="GB", holidays_subdiv="ENG"))
    st_andrews_day = date(2026, 11, 30)  # a Monday
    assert not scotland.is_working_day(st_andrews_day)
    assert england.is_working_day(st_andrews_day)


def test_a_sunday_to_thursday_team_works_on_sunday():
    calendar = calendar_for(Team(name="gulf", workdays="sun,mon,tue,wed,thu"))
    assert calendar.is_working_day(date(2026, 11, 22))  # Sunday
    assert not calendar.is_working_day(date(2026, 11, 27))  # Friday


def test_working_days_after_skips_weekends_and_holidays():
    team = Team(name="front", holidays_country="GB", holidays_subdiv="ENG")
    assert working_days_after(team, date(2026, 12, 24), 1) == date(2026, 12, 29)
    assert working_days_after(None, date(2026, 11, 27), 1) == date(2026, 11, 30)
