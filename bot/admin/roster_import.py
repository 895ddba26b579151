"""Apply validated roster rows to people and teams, idempotently, in the caller's transaction.

A person is the same person on every import when their `(platform, platform_id)`
matches or, for a row without a platform id, their email does. Problems that need
the database (someone switching platform ids, a forgotten person) are collected
before anything is written and raised as `RosterInvalid`.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.admin.enrolment import enrol_all, pack_for
from bot.admin.roster import RosterInvalid, RosterRow
from bot.coaching.people import person_label
from storage.db import in_chunks
from storage.models import Delivery, DeliveryStatus, Person, PersonStatus, Role, Team

EMAIL_ONLY_PLATFORM = "slack"
REMOVED_REASON = "removed from roster"
INVITE_CODE_BYTES = 8
_LEFT = (PersonStatus.INACTIVE, PersonStatus.FORGOTTEN)

EmailLookup = Callable[[str], Awaitable[str | None]]
"""Finds a Slack member by email: their user id, or None when nobody has it (a port: the
Slack transport implements it with `users.lookupByEmail`)."""
_TRACKED = (
    *("name", "email", "role", "team_id", "platform", "platform_id", "status"),
    *("timezone", "send_time", "language", "invite_code"),
)


@dataclass(frozen=True, slots=True)
class PersonDefaults:
    """Timezone and send time for new people whose row leaves them blank (from Settings)."""

    timezone: str
    send_time: str


@dataclass(slots=True)
class ImportSummary:
    """What one import changed, and who still has to be reached."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    teams_created: list[str] = field(default_factory=list)
    invites: list[tuple[str, str]] = field(default_factory=list)
    pending_slack: list[str] = field(default_factory=list)
    not_in_slack: list[str] = field(default_factory=list)  # "FILE:LINE: email" not found
    without_pack: int = 0


async def find_in_slack(
    rows: list[RosterRow], lookup: EmailLookup, *, source: str
) -> tuple[list[RosterRow], list[str]]:
    """Rows with an email and no Slack id get the id Slack knows; the emails it does not know.

    Rows not found are kept as they are (their person stays pending), never dropped.
    """
    found: list[RosterRow] = []
    missing: list[str] = []
    for row in rows:
        if row.email is None or row.platform_id is not None or row.platform not in (None, "slack"):
            found.append(row)
            continue
        user_id = await lookup(row.email)
        if user_id is None:
            missing.append(f"{source}:{row.line}: {row.email}")
            found.append(row)
        else:
            found.append(replace(row, platform="slack", platform_id=user_id))
    return found, missing


async def import_roster(
    session: AsyncSession,
    rows: list[RosterRow],
    *,
    source: str,
    defaults: PersonDefaults,
    sync: bool,
    now: datetime,
    lookup: EmailLookup | None = None,
) -> ImportSummary:
    """Create or update the people and teams of `rows`; with `sync`, retire the missing.

    With `lookup`, rows given only an email are first found in Slack by it.
    """
    missing: list[str] = []
    if lookup is not None:
        rows, missing = await find_in_slack(rows, lookup, source=source)
    matches = await _match_people(session, rows, source=source)
    teams, summary = await _teams(session, {row.team for row in rows}), ImportSummary()
    summary.not_in_slack = missing
    summary.teams_created = [name for name, team in teams.items() if team.id is None]
    session.add_all(teams.values())
    await session.flush()
    applied: list[tuple[Person, str]] = []
    for row in rows:
        person = matches.get(row.line)
        before = _snapshot(person) if person is not None else None
        person = person or _new_person(row, defaults)
        _apply(person, row, team=teams[row.team])
        session.add(person)
        if before is None:
            summary.created += 1
        elif before != _snapshot(person):
            summary.updated += 1
        else:
            summary.unchanged += 1
        applied.append((person, row.team))
    await session.flush()
    members: dict[str, list[Person]] = {}
    for person, team_name in applied:
        members.setdefault(team_name, []).append(person)
    only_pack = await pack_for(session, None)
    for name, team in teams.items():
        pack_id = team.pack_id or only_pack
        if pack_id is not None:
            await enrol_all(session, people=members[name], pack_id=pack_id, now=now)
        else:
            summary.without_pack += sum(person.role == Role.LEARNER for person in members[name])
    for person, _ in applied:
        if person.status == PersonStatus.PENDING and person.invite_code is not None:
            summary.invites.append((person.name, person.invite_code))
        elif person.status == PersonStatus.PENDING:
            summary.pending_slack.append(person.name)
    if sync:
        kept = {person.id for person, _ in applied if person.id is not None}
        team_ids = [team.id for team in teams.values() if team.id is not None]
        summary.deactivated = await _deactivate_missing(session, team_ids, kept=kept)
    return summary


@dataclass(slots=True)
class _Known:
    """The stored people the rows may mean, by address and by lower-cased email."""

    by_address: dict[tuple[str, str], Person] = field(default_factory=dict)
    by_email: dict[str, list[Person]] = field(default_factory=dict)


async def _known_people(session: AsyncSession, rows: list[RosterRow]) -> _Known:
    """Load every stored person a row could match, in a few queries."""
    known = _Known()
    platform_ids = sorted({row.platform_id for row in rows if row.platform_id is not None})
    emails = sorted({row.email for row in rows if row.email is not None})
    for chunk in in_chunks(platform_ids):
        query = select(Person).where(col(Person.platform_id).in_(chunk))
        for person in (await session.exec(query)).all():
            known.by_address[(person.platform, person.platform_id or "")] = person
    for chunk in in_chunks(emails):
        query = select(Person).where(func.lower(col(Person.email)).in_(chunk))
        for person in (await session.exec(query.order_by(col(Person.id)))).all():
            known.by_email.setdefault((person.email or "").lower(), []).append(person)
    return known


async def _match_people(
    session: AsyncSession, rows: list[RosterRow], *, source: str
) -> dict[int, Person]:
    """The stored person of each row (by line), or `RosterInvalid` listing every conflict."""
    known = await _known_people(session, rows)
    problems: list[str] = []
    matches: dict[int, Person] = {}
    claimed: dict[int, int] = {}
    for row in rows:
        person, problem = _find(known, row)
        if problem is None and person is not None and person.id in claimed:
            problem = f"same person as line {claimed[person.id]} ({person_label(person)})"
        if problem is not None:
            problems.append(f"{source}:{row.line}: {problem}")
        elif person is not None and person.id is not None:
            matches[row.line] = person
            claimed[person.id] = row.line
    if problems:
        raise RosterInvalid(problems)
    return matches


def _find(known: _Known, row: RosterRow) -> tuple[Person | None, str | None]:
    """The stored person this row means, or a reason it cannot be imported."""
    person: Person | None = None
    if row.platform_id is not None:
        person = known.by_address.get((row.platform or "", row.platform_id))
    if person is None and row.email is not None:
        found = known.by_email.get(row.email, [])
        if len(found) > 1:
            return None, f"several people have email {row.email}; give platform_id"
        person = found[0] if found else None
        if person is not None and _switches(person, row):
            return None, (
                f"{row.email} is {person_label(person)}; a person cannot switch to "
                f"{row.label} (give their current platform_id)"
            )
    if person is not None and person.status == PersonStatus.FORGOTTEN:
        return None, f"{row.label} asked to be forgotten; remove this row"
    return person, None


def _switches(person: Person, row: RosterRow) -> bool:
    """True if an email match would move a reachable person to another address."""
    if person.platform_id is None:
        return False
    if row.platform_id is None:
        return row.platform is not None and row.platform != person.platform
    return (row.platform, row.platform_id) != (person.platform, person.platform_id)


async def _teams(session: AsyncSession, names: set[str]) -> dict[str, Team]:
    """The named teams, new unsaved ones for names not stored yet."""
    stored = (await session.exec(select(Team).where(col(Team.name).in_(names)))).all()
    teams = {team.name: team for team in stored}
    return {name: teams.get(name) or Team(name=name) for name in sorted(names)}


def _new_person(row: RosterRow, defaults: PersonDefaults) -> Person:
    """A person for a row seen for the first time, with the configured defaults."""
    return Person(
        name=row.name,
        platform=row.platform or EMAIL_ONLY_PLATFORM,
        timezone=defaults.timezone,
        send_time=defaults.send_time,
        status=PersonStatus.PENDING,
    )


def _apply(person: Person, row: RosterRow, *, team: Team) -> None:
    """Copy the row's non-blank cells onto the person and work out their status."""
    person.name = row.name
    person.team_id = team.id
    for column in ("email", "role", "timezone", "send_time", "language"):
        value = getattr(row, column)
        if value is not None:
            setattr(person, column, value)
    if row.platform_id is not None and person.platform_id is None:
        person.platform, person.platform_id = row.platform or person.platform, row.platform_id
    elif row.platform is not None and person.platform_id is None:
        person.platform = row.platform
    if person.status in (PersonStatus.PENDING, PersonStatus.INACTIVE):
        reachable = person.platform_id is not None
        person.status = PersonStatus.ACTIVE if reachable else PersonStatus.PENDING
    if person.status == PersonStatus.PENDING and person.platform == "telegram":
        person.invite_code = person.invite_code or secrets.token_urlsafe(INVITE_CODE_BYTES)
    elif person.status != PersonStatus.PENDING:
        person.invite_code = None


def _snapshot(person: Person) -> dict[str, Any]:
    """The fields an import may change, to tell updated from unchanged."""
    return {name: getattr(person, name) for name in _TRACKED}


async def _deactivate_missing(session: AsyncSession, team_ids: list[int], *, kept: set[int]) -> int:
    """Make people of these teams who are not in the file inactive; cancel what they await."""
    people: list[Person] = []
    for chunk in in_chunks(team_ids):
        members = select(Person).where(
            col(Person.team_id).in_(chunk), col(Person.status).not_in(_LEFT)
        )
        people += [p for p in (await session.exec(members)).all() if p.id not in kept]
    for person in people:
        person.status = PersonStatus.INACTIVE
        session.add(person)
    for chunk in in_chunks([person.id for person in people if person.id is not None]):
        await session.exec(
            update(Delivery)
            .where(
                col(Delivery.person_id).in_(chunk), col(Delivery.status) == DeliveryStatus.PENDING
            )
            .values(status=DeliveryStatus.CANCELLED, reason=REMOVED_REASON)
            .execution_options(synchronize_session=False)
        )
    await session.flush()
    return len(people)
