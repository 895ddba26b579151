"""Enrolment: put a learner in their team's pack and welcome them once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import exists, literal, true, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.outbox.queue import Message, queue_missing
from storage.db import in_chunks, insert_unless_taken
from storage.models import (
    Delivery,
    DeliveryKind,
    Enrolment,
    Lesson,
    Pack,
    Person,
    PersonStatus,
    Role,
    Team,
)

WELCOME_KEY = "welcome"
_ENROLMENT_COLUMNS = ("person_id", "pack_id", "active", "started_at")
_STARTED_AT = Enrolment.__table__.c.started_at  # type: ignore[attr-defined]  # not declared
_PAUSE_EXAMPLE_AHEAD = timedelta(days=30)


class Joiner(Protocol):
    """What enrolling and welcoming reads of a person (a `Person`, or plain values)."""

    @property
    def id(self) -> int:
        """The person's row id (saved people only)."""

    @property
    def name(self) -> str:
        """Their full name."""

    @property
    def role(self) -> str:
        """A `Role` value."""

    @property
    def status(self) -> str:
        """A `PersonStatus` value."""

    @property
    def timezone(self) -> str:
        """Their IANA timezone."""

    @property
    def send_time(self) -> str:
        """When their lessons come, as HH:MM."""


async def loaded_pack_ids(session: AsyncSession) -> list[str]:
    """Ids of the packs in use: those with at least one lesson that is not retired."""
    in_use = exists().where(col(Lesson.pack_id) == Pack.id, col(Lesson.retired).is_(False))
    return list((await session.exec(select(Pack.id).where(in_use).order_by(Pack.id))).all())


async def pack_for(session: AsyncSession, team: Team | None) -> str | None:
    """The team's pack or, when exactly one pack is loaded, that one; else None."""
    if team is not None and team.pack_id is not None:
        return team.pack_id
    loaded = await loaded_pack_ids(session)
    return loaded[0] if len(loaded) == 1 else None


@dataclass(frozen=True, slots=True)
class Waiting:
    """Learners of the teams using a pack who are in no pack yet, and those teams' names."""

    people: list[Person]
    teams: list[str]


async def waiting_for(session: AsyncSession, *, pack_id: str) -> Waiting:
    """Current learners with no active enrolment in the teams that use `pack_id`.

    A team uses its own pack or, having none, the only pack loaded (as in
    `pack_for`); `pack_id` counts as loaded, so a dry run sees what a load will do.
    """
    uses = col(Team.pack_id) == pack_id
    if not [loaded for loaded in await loaded_pack_ids(session) if loaded != pack_id]:
        uses = uses | col(Team.pack_id).is_(None)
    enrolled = exists().where(
        col(Enrolment.person_id) == Person.id, col(Enrolment.active).is_(True)
    )
    statement = (
        select(Person, Team.name)
        .join(Team, col(Team.id) == Person.team_id)
        .where(
            uses,
            Person.role == Role.LEARNER,
            col(Person.status).not_in((PersonStatus.INACTIVE, PersonStatus.FORGOTTEN)),
            ~enrolled,
        )
        .order_by(col(Team.name), col(Person.id))
    )
    rows = (await session.exec(statement)).all()
    return Waiting(
        people=[person for person, _ in rows], teams=list(dict.fromkeys(t for _, t in rows))
    )


async def enrol_waiting(session: AsyncSession, *, pack_id: str, now: datetime) -> Waiting:
    """Enrol (and welcome) the learners `waiting_for` the pack; returns who they were."""
    waiting = await waiting_for(session, pack_id=pack_id)
    await enrol_all(session, people=waiting.people, pack_id=pack_id, now=now)
    return waiting


async def enrol(
    session: AsyncSession, *, person: Person, team: Team | None, now: datetime
) -> Enrolment | None:
    """Enrol a learner in their team's pack (see `enrol_in_pack`); None if there is none."""
    pack_id = await pack_for(session, team)
    if pack_id is None:
        return None
    return await enrol_in_pack(session, person=person, pack_id=pack_id, now=now)


async def enrol_in_pack(
    session: AsyncSession, *, person: Person, pack_id: str, now: datetime
) -> Enrolment | None:
    """Enrol one learner in `pack_id` (see `enrol_all`); None for non-learners or leavers."""
    enrolled = await enrol_all(session, people=[person], pack_id=pack_id, now=now)
    return enrolled[0] if enrolled else None


async def enrol_all(
    session: AsyncSession, *, people: list[Person], pack_id: str, now: datetime
) -> list[Enrolment]:
    """Enrol the learners among `people` in `pack_id` (see `enrol_many`); their enrolments."""
    await session.flush()
    ids = await enrol_many(session, people=people, pack_id=pack_id, now=now)
    found: dict[int, Enrolment] = {}
    for chunk in in_chunks(ids):
        query = select(Enrolment).where(
            col(Enrolment.person_id).in_(chunk), Enrolment.pack_id == pack_id
        )
        found.update((enrolment.person_id, enrolment) for enrolment in (await session.exec(query)))
    return [found[person_id] for person_id in ids]


async def enrol_many(
    session: AsyncSession,
    *,
    people: Sequence[Joiner],
    pack_id: str,
    now: datetime,
    new: bool = False,
) -> list[int]:
    """Enrol the learners among `people` in `pack_id`, welcoming those who can be reached.

    Enrolments in other packs are made inactive (their history stays), and the
    welcome is keyed `welcome`, so enrolling again or moving packs never sends
    a second one. Non-learners and people who left are skipped. A few statements
    per 500 people, whatever their number; returns the ids of the learners enrolled.
    `new` people were created in this transaction: they hold nothing to look up.
    """
    learners = [
        person
        for person in people
        if person.role == Role.LEARNER
        and person.status not in (PersonStatus.INACTIVE, PersonStatus.FORGOTTEN)
    ]
    ids = [person.id for person in learners]
    for chunk in in_chunks([] if new else ids):
        held = col(Enrolment.person_id).in_(chunk)
        await session.exec(
            update(Enrolment)
            .where(held, col(Enrolment.pack_id) != pack_id, col(Enrolment.active).is_(True))
            .values(active=False)
        )
        await session.exec(
            update(Enrolment)
            .where(held, col(Enrolment.pack_id) == pack_id, col(Enrolment.active).is_(False))
            .values(active=True)
        )
    taken = insert_unless_taken(session, Enrolment, unique=("person_id", "pack_id"))
    for chunk in in_chunks(ids):
        # Rows made from the people's ids in the database: the shared values are bound once.
        learners_in_chunk = select(
            col(Person.id), literal(pack_id), true(), literal(now, _STARTED_AT.type)
        ).where(col(Person.id).in_(chunk))
        await session.exec(taken.from_select(_ENROLMENT_COLUMNS, learners_in_chunk))
    reachable = [person for person in learners if person.status == PersonStatus.ACTIVE]
    welcomed = set() if new else await _welcomed(session, [person.id for person in reachable])
    await queue_missing(
        session, [welcome_message(p, now) for p in reachable if p.id not in welcomed], now=now
    )
    return ids


async def _welcomed(session: AsyncSession, person_ids: list[int]) -> set[int]:
    """Which of these people already have their welcome row."""
    found: set[int] = set()
    for chunk in in_chunks(person_ids):
        query = select(Delivery.person_id).where(
            Delivery.delivery_key == WELCOME_KEY, col(Delivery.person_id).in_(chunk)
        )
        found.update((await session.exec(query)).all())
    return found


def welcome_text(person: Joiner, now: datetime) -> str:
    """A short welcome: what happens when, how to pause, and what data is kept."""
    first_name = person.name.split()[0] if person.name.strip() else "there"
    example = (now + _PAUSE_EXAMPLE_AHEAD).date().isoformat()
    return (
        f"Welcome, {first_name}! I'm your customer-service coach.\n\n"
        f"Every working day at *{person.send_time}* ({person.timezone}) I'll send you one "
        "short lesson and a quick quiz. Questions you miss come back later for review.\n\n"
        f"- Away on leave? Write *pause until {example}*.\n"
        "- Write *help* to see every command.\n\n"
        "_Your data:_ I keep your answers and reflections. Your coach sees them only when "
        "you ask for help or seem stuck. Write *export* for a copy, or *forget* to erase them."
    )


def welcome_message(person: Joiner, now: datetime) -> Message:
    """The welcome message, queued once per person (for people who just became active)."""
    if person.id is None:
        raise ValueError("welcome_message needs a saved person")
    return Message(
        person_id=person.id,
        key=WELCOME_KEY,
        kind=DeliveryKind.NOTICE,
        text=welcome_text(person, now),
    )
