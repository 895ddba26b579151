"""A time of day reads the same wherever people type one: settings, roster, team policy."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.coaching.policy import TeamPolicy
from bot.config import Settings
from bot.timeofday import parse_time_of_day

READ = [("7:30", "07:30"), ("07:30", "07:30"), (" 23:59 ", "23:59"), ("0:00", "00:00")]
REFUSED = ["24:00", "7:60", "7:3", "730", "noon", "", "07:30:00"]


@pytest.mark.parametrize(("typed", "stored"), READ)
def test_every_place_normalises_a_time_of_day_alike(typed, stored):
    assert parse_time_of_day(typed) == stored
    assert Settings(_env_file=None, default_send_time=typed).default_send_time == stored
    assert TeamPolicy(working_hours_end=typed).working_hours_end == stored


@pytest.mark.parametrize("typed", REFUSED)
def test_every_place_refuses_what_is_not_a_time_of_day(typed):
    assert parse_time_of_day(typed) is None
    with pytest.raises(ValidationError, match="is not a time of day; use HH:MM"):
        Settings(_env_file=None, default_send_time=typed)
    with pytest.raises(ValidationError, match="is not a time of day; use HH:MM"):
        TeamPolicy(working_hours_end=typed)
