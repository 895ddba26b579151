"""Team administration: pack, coaches, holiday calendar, working days and policy overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import holidays
from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.admin.enrolment import enrol_all, loaded_pack_ids
from bot.admin.roster import PLATFORMS, team_name_problem
from bot.coaching.pauses import cancel_pending
from bot.coaching.people import person_label, team_of
from bot.coaching.policy import (
    WEEKDAYS,
    TeamPolicy,
    format_workdays,
    parse_workdays,
    policy_for,
    policy_overrides,
)
from bot.errors import Ambiguous, Invalid, NotFound
from storage.models import LEARNER_KINDS, Pack, Person, PersonStatus, Role, Team

NO_CALENDAR = "none"
_LEFT = (PersonStatus.INACTIVE, PersonStatus.FORGOTTEN)


@dataclass(frozen=True, slots=True)
class TeamChanges:
    """What `teams set` was asked to change; None or empty means leave as it is."""

    pack_id: str | None = None
    coaches: tuple[str, ...] = ()
    holidays: str | None = None
    workdays: str | None = None
    assignments: tuple[str, ...] = ()
    reset: bool = False
    create: bool = False  # a team that does not exist yet is created only when asked
    make_coach: bool = False  # a learner or admin becomes a coach only when asked


@dataclass(slots=True)
class TeamOutcome:
    """What `configure_team` did."""

    team: Team
    created: bool
    learners_moved: int = 0
    coaches: list[str] = field(default_factory=list)
    already_coaches: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TeamSummary:
    """One row of `teams list`."""

    name: str
    pack: str | None
    pack_assigned: bool
    coaches: list[str]
    calendar: str | None
    workdays: str
    learners: int
    overrides: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """The summary as plain JSON-ready data."""
        return {
            "team": self.name,
            "pack": self.pack,
            "pack_assigned": self.pack_assigned,
            "coaches": self.coaches,
            "calendar": self.calendar,
            "workdays": self.workdays,
            "learners": self.learners,
            "policy_overrides": self.overrides,
        }


def format_default(value: Any) -> str:
    """A policy default as people write it on the command line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ", ".join(str(part) for part in value)
    return str(value)


def policy_reference() -> list[tuple[str, str, str]]:
    """Every policy setting as `(name, default, meaning)`, straight from `TeamPolicy`."""
    return [
        (name, format_default(info.default), info.description or "")
        for name, info in TeamPolicy.model_fields.items()
    ]


def policy_markdown() -> str:
    """The policy settings as a Markdown table (docs/teams.md embeds it verbatim)."""
    lines = ["| setting | default | meaning |", "| --- | --- | --- |"]
    lines += [
        f"| `{name}` | {default} | {meaning} |" for name, default, meaning in policy_reference()
    ]
    return "\n".join(lines)


def apply_assignments(
    current: dict[str, Any], assignments: tuple[str, ...], *, reset: bool
) -> dict[str, Any]:
    """New overrides from `KEY=VALUE` assignments, validated by `TeamPolicy`."""
    values = {} if reset else dict(current)
    fields = TeamPolicy.model_fields
    for assignment in assignments:
        key, equals, raw = assignment.partition("=")
        key = key.strip().replace("-", "_")
        if not equals:
            raise Invalid(f"--set expects KEY=VALUE, got {assignment!r}")
        if key not in fields:
            raise Invalid(f"unknown policy setting {key!r} (known: {', '.join(fields)})")
        is_list = isinstance(fields[key].default, tuple)
        values[key] = [part.strip() for part in raw.split(",")] if is_list else raw.strip()
    try:
        policy = TeamPolicy(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "policy"
        raise Invalid(f"{where}: {error['msg']}") from None
    return policy_overrides(policy)


def parse_calendar(spec: str) -> tuple[str | None, str | None]:
    """Turn `GB-ENG`, `DE` or `none` into a validated (country, subdivision) pair."""
    if spec.strip().lower() == NO_CALENDAR:
        return None, None
    country, _, subdiv = spec.strip().upper().partition("-")
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise Invalid(
            f"unknown holiday country {country!r}: use an ISO 3166 code such as GB, "
            "with an optional subdivision (GB-ENG), or 'none'"
        )
    if not subdiv:
        return country, None
    known = {str(code).upper(): str(code) for code in supported[country]}
    if subdiv not in known:
        listed = ", ".join(known.values()) or "none"
        raise Invalid(f"{country} has no holiday subdivision {subdiv!r} (known: {listed})")
    try:
        holidays.country_holidays(country, subdiv=known[subdiv])
    except NotImplementedError as exc:
        raise Invalid(f"holiday calendar {spec!r} is not available: {exc}") from None
    return country, known[subdiv]


def calendar_label(team: Team) -> str | None:
    """The team's calendar as `CC` or `CC-SUBDIV`, or None."""
    if team.holidays_country is None:
        return None
    if team.holidays_subdiv is None:
        return team.holidays_country
    return f"{team.holidays_country}-{team.holidays_subdiv}"


def workdays_label(stored: str) -> str:
    """Stored `mon,tue,wed,thu,fri` shown as `mon-fri` (runs of days become ranges)."""
    days = parse_workdays(stored)
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    if len(runs) > 1 and runs[0][0] == 0 and runs[-1][-1] == len(WEEKDAYS) - 1:
        runs = [runs.pop() + runs.pop(0), *runs]
    return ",".join(
        WEEKDAYS[run[0]] if len(run) == 1 else f"{WEEKDAYS[run[0]]}-{WEEKDAYS[run[-1]]}"
        for run in runs
    )


async def find_person(
    session: AsyncSession, reference: str, *, include_inactive: bool = False
) -> Person:
    """The one person an admin means by a name, an email or a `platform:id` address.

    People who left (inactive or forgotten) count only with `include_inactive`,
    e.g. for a coach looking back at a learner who sent `stop`.
    """
    reference = reference.strip()
    query = select(Person)
    if not include_inactive:
        query = query.where(col(Person.status).not_in(_LEFT))
    platform, colon, platform_id = reference.partition(":")
    if colon and platform in PLATFORMS:
        query = query.where(Person.platform == platform, Person.platform_id == platform_id)
    elif "@" in reference:
        query = query.where(func.lower(col(Person.email)) == reference.lower())
    else:
        query = query.where(func.lower(col(Person.name)) == reference.lower())
    found = list((await session.exec(query.order_by(col(Person.id)))).all())
    if not found:
        raise NotFound(f"nobody called {reference!r}: add them with `roster import` first")
    if len(found) > 1:
        candidates = "; ".join(person_label(person) for person in found)
        raise Ambiguous(
            f"{reference!r} matches several people: {candidates}; give an address or email"
        )
    return found[0]


async def configure_team(
    session: AsyncSession, *, name: str, changes: TeamChanges, now: datetime
) -> TeamOutcome:
    """Apply `changes` to the team (created only with `changes.create`), validating first."""
    problem = team_name_problem(name)
    if problem is not None:
        raise Invalid(problem)
    team = (await session.exec(select(Team).where(Team.name == name))).first()
    if team is None and not changes.create:
        raise NotFound(f"no team {name!r} (see `teams list`); add --create to create it")
    outcome = TeamOutcome(team=team or Team(name=name), created=team is None)
    team = outcome.team
    if changes.holidays is not None:
        team.holidays_country, team.holidays_subdiv = parse_calendar(changes.holidays)
    if changes.workdays is not None:
        try:
            team.workdays = format_workdays(parse_workdays(changes.workdays))
        except ValueError as exc:
            raise Invalid(f"--workdays: {exc}") from None
    if changes.assignments or changes.reset:
        team.policy = apply_assignments(team.policy, changes.assignments, reset=changes.reset)
    if changes.pack_id is not None:
        await _check_pack(session, changes.pack_id)
        team.pack_id = changes.pack_id
    coaches = await _coaches(session, changes, team_name=name)
    session.add(team)
    await session.flush()
    for coach in coaches:
        if coach.role == Role.COACH and coach.team_id == team.id:
            outcome.already_coaches.append(coach.name)
            continue
        outcome.coaches.append(coach.name + await _was(session, coach))
        if coach.role == Role.LEARNER:
            await cancel_pending(
                session, person_id=coach.id, kinds=LEARNER_KINDS, reason="became a coach"
            )
        coach.role, coach.team_id = Role.COACH, team.id
        session.add(coach)
    if changes.pack_id is not None:
        outcome.learners_moved = await _move_learners(session, team, now=now)
    await session.flush()
    return outcome


async def _coaches(session: AsyncSession, changes: TeamChanges, *, team_name: str) -> list[Person]:
    """The people named by `--coach`, once each; a learner or admin only with `make_coach`."""
    found: dict[int | None, Person] = {}
    for reference in changes.coaches:
        person = await find_person(session, reference)
        if person.role != Role.COACH and not changes.make_coach:
            raise Invalid(
                f"{person_label(person)} is {_article(person.role)} {person.role}; "
                f"add --make-coach to make them a coach of {team_name}"
                + (" (they stop getting lessons)" if person.role == Role.LEARNER else "")
            )
        found.setdefault(person.id, person)
    return list(found.values())


def _article(role: str) -> str:
    """`an admin`, `a coach`, `a learner`."""
    return "an" if role == Role.ADMIN else "a"


async def _was(session: AsyncSession, person: Person) -> str:
    """` (was a learner of desk)`: what a person stops being when they coach another team."""
    team = await team_of(session, person)
    if person.role == Role.COACH and team is None:
        return ""
    return f" (was {_article(person.role)} {person.role}" + (f" of {team.name})" if team else ")")


async def _check_pack(session: AsyncSession, pack_id: str) -> None:
    """Refuse a pack that is not loaded or whose lessons are all retired."""
    if await session.get(Pack, pack_id) is None:
        raise NotFound(f"no pack {pack_id!r} is loaded (see `packs list`)")
    if pack_id not in await loaded_pack_ids(session):
        raise Invalid(f"pack {pack_id!r} is retired: every lesson in it is retired")


async def _move_learners(session: AsyncSession, team: Team, *, now: datetime) -> int:
    """Enrol every current learner of the team in its pack; return how many."""
    learners = select(Person).where(
        Person.team_id == team.id,
        Person.role == Role.LEARNER,
        col(Person.status).not_in(_LEFT),
    )
    if team.pack_id is None:
        return 0
    people = list((await session.exec(learners)).all())
    return len(await enrol_all(session, people=people, pack_id=team.pack_id, now=now))


async def team_summaries(session: AsyncSession) -> list[TeamSummary]:
    """Every team with its effective pack, coaches, calendar and learner count."""
    teams = list((await session.exec(select(Team).order_by(col(Team.name)))).all())
    loaded = await loaded_pack_ids(session)
    only_pack = loaded[0] if len(loaded) == 1 else None
    people = select(Person).where(
        col(Person.team_id).is_not(None), col(Person.status).not_in(_LEFT)
    )
    members = list((await session.exec(people.order_by(col(Person.name)))).all())
    summaries = []
    for team in teams:
        mine = [person for person in members if person.team_id == team.id]
        summaries.append(
            TeamSummary(
                name=team.name,
                pack=team.pack_id or only_pack,
                pack_assigned=team.pack_id is not None,
                coaches=[person.name for person in mine if person.role == Role.COACH],
                calendar=calendar_label(team),
                workdays=workdays_label(team.workdays),
                learners=sum(person.role == Role.LEARNER for person in mine),
                overrides=policy_overrides(policy_for(team)),
            )
        )
    return summaries
