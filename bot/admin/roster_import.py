"""Apply validated roster rows to people and teams, idempotently, in the caller's transaction.

A person is the same person on every import when their `(platform, platform_id)`
matches or, for a row without a platform id, their email does. Rows go in chunks,
each with a few bulk statements on plain values (no entity per row). Problems that
need the database (someone switching platform ids, a forgotten person) stop all
further writing when found and are raised together as `RosterInvalid` at the end,
for the caller to roll back.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import bindparam, func, insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.admin.enrolment import enrol_many, pack_for
from bot.admin.roster import RosterInvalid, RosterRow
from bot.coaching.people import person_label
from storage.db import in_chunks
from storage.models import Delivery, DeliveryStatus, Person, PersonStatus, Role, Team
from storage.types import utcnow

EMAIL_ONLY_PLATFORM = "slack"
REMOVED_REASON = "removed from roster"
INVITE_CODE_BYTES = 8
_LEFT = (PersonStatus.INACTIVE, PersonStatus.FORGOTTEN)

EmailLookup = Callable[[str], Awaitable[str | None]]
"""Finds a Slack member by email: their user id, or None when nobody has it (a port: the
Slack transport implements it with `users.lookupByEmail`)."""
CHUNK_ROWS = 1_000
_TRACKED = (
    *("name", "email", "role", "team_id", "platform", "platform_id", "status"),
    *("timezone", "send_time", "language", "invite_code"),
)
_PERSON = Person.__table__  # type: ignore[attr-defined]  # SQLModel does not declare __table__
_COLUMNS = (_PERSON.c.id, *(_PERSON.c[name] for name in _TRACKED))
_NEW_PERSON: dict[str, Any] = {
    **dict.fromkeys(("email", "team_id", "platform_id", "invite_code")),
    "role": Role.LEARNER,
    "language": "en",
    "status": PersonStatus.PENDING,
}
_STREAMED = 5_000  # rows fetched at a time from a streamed query
_MEMBER = ("id", "name", "role", "status", "timezone", "send_time")

Values = dict[str, Any]
"""One person's stored columns (`id` and the tracked ones), as plain values."""


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
    rows: Iterable[RosterRow],
    *,
    source: str,
    defaults: PersonDefaults,
    sync: bool,
    now: datetime,
    lookup: EmailLookup | None = None,
    progress: Callable[[int], object] | None = None,
    chunk: int = CHUNK_ROWS,
) -> ImportSummary:
    """Create or update the people and teams of `rows`; with `sync`, retire the missing.

    With `lookup`, rows given only an email are first found in Slack by it. Rows
    are read and written `chunk` at a time with a few bulk statements each, and
    `progress` hears how many rows are done after every chunk. A conflict with a
    stored person is found chunk by chunk: later chunks are still checked (and
    nothing more written) so that every conflict is listed, then `RosterInvalid`
    is raised and the caller's transaction must be rolled back.
    """
    summary = ImportSummary()
    state = _State(
        only_pack=await pack_for(session, None),
        stored=await _stored_keys(session),
        lookups=lookup is not None,
        sync=sync,
    )
    done = 0
    for batch in _batches(rows, chunk):
        if lookup is not None:
            batch, missing = await find_in_slack(batch, lookup, source=source)
            summary.not_in_slack += missing
        matches = await _match_people(session, batch, state, source=source)
        if not state.problems:
            await _write(session, batch, matches, state, summary, defaults=defaults, now=now)
        done += len(batch)
        if progress is not None:
            progress(done)
    if state.problems:
        raise RosterInvalid(state.problems)
    summary.teams_created.sort()
    if sync:
        team_ids = [team.id for team in state.teams.values()]
        summary.deactivated = await _deactivate_missing(session, team_ids, kept=state.kept)
    return summary


def _batches(rows: Iterable[RosterRow], size: int) -> Iterator[list[RosterRow]]:
    """`rows` in lists of `size` (the last may be shorter)."""
    stream = iter(rows)
    while batch := list(islice(stream, size)):
        yield batch


@dataclass(slots=True)
class _State:
    """What one import remembers from chunk to chunk: a few values per row, no objects."""

    only_pack: str | None
    stored: set[int]  # `_key`s of every stored address and email, before the import
    lookups: bool  # rows may get a Slack id found by email
    sync: bool  # people not in the file leave their teams
    teams: dict[str, Team] = field(default_factory=dict)
    claimed: dict[int, int] = field(default_factory=dict)  # person id → line
    moved: dict[str, Values] = field(default_factory=dict)  # email changed by a row → person
    kept: set[int] = field(default_factory=set)  # with sync: everyone in the file
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Member:
    """What enrolment reads of a person this import wrote."""

    id: int
    name: str
    role: str
    status: str
    timezone: str
    send_time: str


async def _stored_keys(session: AsyncSession) -> set[int]:
    """The `_key` of every stored address and email, read in one streamed query.

    Only a row whose address or email is in it can mean a stored person: the others
    cost no query (a query per chunk would also scan a table that grows as it is
    written while the planner still thinks it small).
    """
    query = select(_PERSON.c.platform, _PERSON.c.platform_id, func.lower(_PERSON.c.email))
    keys: set[int] = set()
    result = await session.stream(query.execution_options(yield_per=_STREAMED))
    async for platform, platform_id, email in result:
        if platform_id is not None:
            keys.add(_key(platform, platform_id))
        if email is not None:
            keys.add(_key(email))
    return keys


def _key(*parts: str | None) -> int:
    """A small stand-in for an address or email (a collision only costs a query)."""
    return hash(parts)


@dataclass(slots=True)
class _Known:
    """The stored people the rows may mean, by address and by lower-cased email."""

    by_address: dict[tuple[str, str], Values] = field(default_factory=dict)
    by_email: dict[str, list[Values]] = field(default_factory=dict)


async def _known_people(session: AsyncSession, rows: list[RosterRow], state: _State) -> _Known:
    """Load every stored person a row could match, as plain values, in a few queries."""
    known = _Known()
    addresses: dict[str, set[str]] = {}
    for row in rows:
        if row.platform_id is not None and _key(row.platform, row.platform_id) in state.stored:
            addresses.setdefault(row.platform or "", set()).add(row.platform_id)
    for platform, platform_ids in sorted(addresses.items()):
        for some in in_chunks(sorted(platform_ids)):
            # One platform per query, so the (platform, platform_id) index is used.
            query = select(*_COLUMNS).where(
                _PERSON.c.platform == platform, _PERSON.c.platform_id.in_(some)
            )
            for person in (await session.exec(query)).mappings():
                known.by_address[(person["platform"], person["platform_id"])] = dict(person)
    emails = sorted(
        {
            row.email
            for row in rows
            if row.email is not None
            and _key(row.email) in state.stored
            and (
                row.platform_id is None
                or (row.platform or "", row.platform_id) not in known.by_address
            )
        }
    )
    for some in in_chunks(emails):
        query = select(*_COLUMNS).where(func.lower(_PERSON.c.email).in_(some))
        for person in (await session.exec(query.order_by(_PERSON.c.id))).mappings():
            known.by_email.setdefault((person["email"] or "").lower(), []).append(dict(person))
    for row in rows:
        if row.email in state.moved:
            known.by_email.setdefault(row.email, []).append(state.moved[row.email])
    return known


async def _match_people(
    session: AsyncSession, rows: list[RosterRow], state: _State, *, source: str
) -> dict[int, Values]:
    """The stored person of each row (by line); conflicts go to `state.problems`."""
    known = await _known_people(session, rows, state)
    matches: dict[int, Values] = {}
    for row in rows:
        person, problem = _find(known, row)
        if problem is None and person is not None and person["id"] in state.claimed:
            claimed = state.claimed[person["id"]]
            problem = f"same person as line {claimed} ({_label(person)})"
        if problem is not None:
            state.problems.append(f"{source}:{row.line}: {problem}")
        elif person is not None:
            matches[row.line] = person
            state.claimed[person["id"]] = row.line
    return matches


def _find(known: _Known, row: RosterRow) -> tuple[Values | None, str | None]:
    """The stored person this row means, or a reason it cannot be imported."""
    person: Values | None = None
    if row.platform_id is not None:
        person = known.by_address.get((row.platform or "", row.platform_id))
    if person is None and row.email is not None:
        found = known.by_email.get(row.email, [])
        if len(found) > 1:
            return None, f"several people have email {row.email}; give platform_id"
        person = found[0] if found else None
        if person is not None and _switches(person, row):
            return None, (
                f"{row.email} is {_label(person)}; a person cannot switch to "
                f"{row.label} (give their current platform_id)"
            )
    if person is not None and person["status"] == PersonStatus.FORGOTTEN:
        return None, f"{row.label} asked to be forgotten; remove this row"
    return person, None


def _switches(person: Values, row: RosterRow) -> bool:
    """True if an email match would move a reachable person to another address."""
    if person["platform_id"] is None:
        return False
    if row.platform_id is None:
        return row.platform is not None and row.platform != person["platform"]
    return (row.platform, row.platform_id) != (person["platform"], person["platform_id"])


def _label(person: Values) -> str:
    """How admins tell this stored person apart (see `person_label`)."""
    return person_label(Person(**person))


async def _write(
    session: AsyncSession,
    rows: list[RosterRow],
    matches: dict[int, Values],
    state: _State,
    summary: ImportSummary,
    *,
    defaults: PersonDefaults,
    now: datetime,
) -> None:
    """Create or update the people of one chunk in bulk, then enrol and report them."""
    teams = await _teams(session, {row.team for row in rows}, state, summary)
    written: list[tuple[Values, Team]] = []
    new: list[Values] = []
    changed: list[Values] = []
    for row in rows:
        before = matches.get(row.line)
        person = dict(before) if before is not None else _new_person(row, defaults)
        _apply(person, row, team=teams[row.team])
        if before is None:
            summary.created += 1
            new.append(person)
        elif before != person:
            summary.updated += 1
            changed.append(person)
            if before["email"] and before["email"].lower() != (person["email"] or "").lower():
                state.moved[before["email"].lower()] = before
        else:
            summary.unchanged += 1
        written.append((person, teams[row.team]))
    await _insert_people(session, new)
    await _update_people(session, changed)
    if state.lookups:
        # Only Slack can give two rows one new address; a later row then meets the first.
        for person, row in zip(new, (row for row in rows if row.line not in matches), strict=True):
            state.claimed[person["id"]] = row.line
            if person["platform_id"] is not None:
                state.stored.add(_key(person["platform"], person["platform_id"]))
    created = {person["id"] for person in new}
    await _enrol(session, written, state, summary, created=created, now=now)
    for person, _ in written:
        if person["status"] == PersonStatus.PENDING and person["invite_code"] is not None:
            summary.invites.append((person["name"], person["invite_code"]))
        elif person["status"] == PersonStatus.PENDING:
            summary.pending_slack.append(person["name"])
        if state.sync:
            state.kept.add(person["id"])


async def _teams(
    session: AsyncSession, names: set[str], state: _State, summary: ImportSummary
) -> dict[str, Team]:
    """The named teams, stored or created now (their names go to `summary.teams_created`)."""
    missing = sorted(names - state.teams.keys())
    for chunk in in_chunks(missing):
        stored = (await session.exec(select(Team).where(col(Team.name).in_(chunk)))).all()
        state.teams.update((team.name, team) for team in stored)
    created = [Team(name=name) for name in missing if name not in state.teams]
    if created:
        session.add_all(created)
        await session.flush()
        state.teams.update((team.name, team) for team in created)
        summary.teams_created += [team.name for team in created]
    return state.teams


async def _insert_people(session: AsyncSession, people: list[Values]) -> None:
    """Insert new people in one executemany, giving each its new id.

    Ids are matched by address, or email for people without one (both unique in
    a file), not by order: an ordered RETURNING would be one statement per row on SQLite.
    """
    if not people:
        return
    created_at = utcnow()
    key = (_PERSON.c.platform, _PERSON.c.platform_id, _PERSON.c.email)
    statement = insert(_PERSON).returning(_PERSON.c.id, *key)
    rows = [
        {**{name: person[name] for name in _TRACKED}, "created_at": created_at} for person in people
    ]
    ids = {
        _new_key(platform, platform_id, email): person_id
        for person_id, platform, platform_id, email in await session.exec(statement, params=rows)
    }
    for person in people:
        person["id"] = ids[_new_key(person["platform"], person["platform_id"], person["email"])]


def _new_key(platform: str, platform_id: str | None, email: str | None) -> tuple[str | None, ...]:
    """What tells apart the people one chunk creates: their address, else their email."""
    return (platform, platform_id) if platform_id is not None else (None, email)


async def _update_people(session: AsyncSession, people: list[Values]) -> None:
    """Write the changed people in one executemany by id."""
    if not people:
        return
    statement = (
        update(_PERSON)
        .where(_PERSON.c.id == bindparam("person_id"))
        .values({name: bindparam(f"new_{name}") for name in _TRACKED})
    )
    rows = [
        {"person_id": person["id"], **{f"new_{name}": person[name] for name in _TRACKED}}
        for person in people
    ]
    await session.exec(statement, params=rows)


async def _enrol(
    session: AsyncSession,
    written: list[tuple[Values, Team]],
    state: _State,
    summary: ImportSummary,
    *,
    created: set[int],
    now: datetime,
) -> None:
    """Enrol the chunk's learners in their team's pack (or the only pack loaded)."""
    by_pack: dict[tuple[str, bool], list[_Member]] = {}
    for person, team in written:
        pack_id = team.pack_id or state.only_pack
        if pack_id is None:
            summary.without_pack += person["role"] == Role.LEARNER
        else:
            member = _Member(**{name: person[name] for name in _MEMBER})
            by_pack.setdefault((pack_id, member.id in created), []).append(member)
    for (pack_id, new), members in by_pack.items():
        await enrol_many(session, people=members, pack_id=pack_id, now=now, new=new)


def _new_person(row: RosterRow, defaults: PersonDefaults) -> Values:
    """The values of a person seen for the first time, with the configured defaults."""
    return {
        **_NEW_PERSON,
        "name": row.name,
        "platform": row.platform or EMAIL_ONLY_PLATFORM,
        "timezone": defaults.timezone,
        "send_time": defaults.send_time,
    }


def _apply(person: Values, row: RosterRow, *, team: Team) -> None:
    """Copy the row's non-blank cells onto the person and work out their status."""
    person["name"] = row.name
    person["team_id"] = team.id
    for column in ("email", "role", "timezone", "send_time", "language"):
        value = getattr(row, column)
        if value is not None:
            person[column] = value
    if row.platform_id is not None and person["platform_id"] is None:
        person["platform"], person["platform_id"] = (
            row.platform or person["platform"],
            row.platform_id,
        )
    elif row.platform is not None and person["platform_id"] is None:
        person["platform"] = row.platform
    if person["status"] in (PersonStatus.PENDING, PersonStatus.INACTIVE):
        reachable = person["platform_id"] is not None
        person["status"] = PersonStatus.ACTIVE if reachable else PersonStatus.PENDING
    if person["status"] == PersonStatus.PENDING and person["platform"] == "telegram":
        person["invite_code"] = person["invite_code"] or secrets.token_urlsafe(INVITE_CODE_BYTES)
    elif person["status"] != PersonStatus.PENDING:
        person["invite_code"] = None


async def _deactivate_missing(session: AsyncSession, team_ids: list[int], *, kept: set[int]) -> int:
    """Make people of these teams who are not in the file inactive; cancel what they await."""
    people: list[int] = []
    for chunk in in_chunks(team_ids):
        members = select(_PERSON.c.id).where(
            _PERSON.c.team_id.in_(chunk), _PERSON.c.status.not_in(_LEFT)
        )
        people += [p for p in (await session.exec(members)) if p not in kept]
    for chunk in in_chunks(people):
        await session.exec(
            update(_PERSON).where(_PERSON.c.id.in_(chunk)).values(status=PersonStatus.INACTIVE)
        )
        await session.exec(
            update(Delivery)
            .where(
                col(Delivery.person_id).in_(chunk), col(Delivery.status) == DeliveryStatus.PENDING
            )
            .values(status=DeliveryStatus.CANCELLED, reason=REMOVED_REASON)
            .execution_options(synchronize_session=False)
        )
    return len(people)
