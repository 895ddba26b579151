"""Team policy: what an admin tunes per team, with documented defaults.

A team row stores only the overrides (`Team.policy`, JSON); `policy_for` merges
them over these defaults, so a new default reaches every team that did not
choose otherwise.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.timeofday import parse_time_of_day
from storage.models import Team

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

DEFAULT_HELP_PHRASES = (
    "i need help",
    "need some help",
    "can someone help",
    "can a coach",
    "talk to a coach",
    "speak to someone",
    "i'm struggling",
    "i am struggling",
    "i'm stuck",
    "i am stuck",
    "i'm lost",
    "i am lost",
    "i'm confused",
    "i am confused",
    "don't understand",
    "do not understand",
    "not coping",
)


class TeamPolicy(BaseModel):
    """Per-team coaching settings; every field has the default documented here."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    review_cap: int = Field(2, ge=0, le=10, description="Review items added to a day at most.")
    desired_retention: float = Field(0.9, gt=0.5, lt=1.0, description="FSRS target recall.")
    nudge_after_hours: float = Field(3, gt=0, le=24, description="Hours before one reminder.")
    working_hours_end: str = Field("17:00", description="Local time after which nobody is nudged.")
    struggle_threshold: float = Field(
        -2.25, le=-1, ge=-5, description="Struggle z-score at or below which a case opens."
    )
    struggle_margin: float = Field(
        0.05, ge=0, le=0.5, description="Shortfall per answer a case must clearly exceed."
    )
    struggle_days: int = Field(15, ge=3, le=60, description="Working days of answers scored.")
    struggle_min_answers: int = Field(10, ge=3, description="Answers needed before a case opens.")
    struggle_cooldown_days: int = Field(
        15, ge=0, le=60, description="Working days after a case when only newer answers count."
    )
    struggle_cases_per_coach_week: int = Field(
        5, ge=0, le=50, description="New struggle cases per coach per week; the rest go to digests."
    )
    repeat_miss_count: int = Field(3, ge=2, description="Misses of one item that open a case.")
    silent_days: int = Field(5, ge=1, description="Working days without an answer.")
    sla_working_days: int = Field(1, ge=1, description="Working days a case may stay unclaimed.")
    signal_score: bool = Field(True, description="Open cases on a low struggle score.")
    signal_repeat_miss: bool = Field(False, description="Open cases when one item is missed often.")
    signal_silence: bool = Field(True, description="Open cases after silent working days.")
    signal_help: bool = Field(True, description="Open cases when a reflection asks for help.")
    signal_request: bool = Field(True, description="Open cases when a learner asks for a coach.")
    help_phrases: tuple[str, ...] = Field(DEFAULT_HELP_PHRASES, description="Help-asking phrases.")
    coach_digest: bool = Field(True, description="Send coaches a daily digest of open cases.")
    retention_days: int = Field(730, ge=30, description="Days answers and reflections are kept.")
    follow_up_working_days: int = Field(
        2, ge=2, le=3, description="Working days from a lesson to its commitment's follow-up."
    )

    @field_validator("working_hours_end")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        normalised = parse_time_of_day(value)
        if normalised is None:
            raise ValueError(f"{value!r} is not a time of day; use HH:MM, e.g. 17:00")
        return normalised

    @field_validator("help_phrases")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(phrase.strip().lower() for phrase in value if phrase.strip())


def policy_for(team: Team | None) -> TeamPolicy:
    """The team's effective policy: its overrides on top of the defaults."""
    return TeamPolicy(**(team.policy if team is not None else {}))


def policy_overrides(policy: TeamPolicy) -> dict[str, Any]:
    """The fields of `policy` that differ from the defaults, for `Team.policy`."""
    return policy.model_dump(mode="json", exclude_defaults=True)


def parse_workdays(spec: str) -> tuple[int, ...]:
    """Turn `mon-fri`, `mon,wed,fri` or `sun-thu` into sorted weekday numbers (Monday 0).

    Raises ValueError with a readable message for anything else.
    """
    days: set[int] = set()
    for part in spec.lower().replace(" ", "").split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise ValueError(f"unknown weekday in {spec!r}: use mon, tue, … sun, e.g. mon-fri")
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        span = (end - start) % 7
        days.update((start + offset) % 7 for offset in range(span + 1))
    if not days:
        raise ValueError("no working days given: use e.g. mon-fri")
    return tuple(sorted(days))


def format_workdays(days: tuple[int, ...]) -> str:
    """Store weekday numbers as `mon,tue,…`."""
    return ",".join(WEEKDAYS[day] for day in days)
