"""Enrolment: put a learner in their team's pack and welcome them once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Delivery, Enrolment, Lesson, Pack, Person, PersonStatus, Role, Team

WELCOME_KEY = "welcome"
_PAUSE_EXAMPLE_AHEAD = timedelta(days=30)


async def loaded_pack_ids(session: AsyncSession) -> list[str]:
    """Ids of the packs in use: those with at least one lesson that is not retired."""
    in_use = exists().where(Lesson.pack_id == Pack.id, Lesson.retired.is_(False))
    return list((await session.exec(select(Pack.id).where(in_use).order_by(Pack.id))).all())


async def pack_for(session: AsyncSession, team: Team | None) -> str | None:
    """The team's pack or, when exactly one pack is loaded, that one; else None."""
    if team is not None and team.pack_id is not None:
        return team.pack_id
    loaded = await loaded_pack_ids(session)
    return loaded[0] if len(loaded) == 1 else None


async def enrol(
    session: AsyncSession, *, person: Person, team: Team | None, now: datetime
) -> Enrolment | None:
    """Enrol a learner in their team's pack; welcome them if they can be reached.

    Enrolments in other packs are made inactive (their history stays), and the
    welcome is keyed `welcome`, so enrolling again or moving packs never sends
    a second one. Returns None for non-learners, people who left, or no pack.
    """
    if person.role != Role.LEARNER or person.status in (
        PersonStatus.INACTIVE,
        PersonStatus.FORGOTTEN,
    ):
        return None
    pack_id = await pack_for(session, team)
    if pack_id is None:
        return None
    await session.flush()
    await session.exec(
        update(Enrolment)
        .where(
            Enrolment.person_id == person.id,
            Enrolment.pack_id != pack_id,
            Enrolment.active.is_(True),
        )
        .values(active=False)
        .execution_options(synchronize_session="fetch")
    )
    found = select(Enrolment).where(Enrolment.person_id == person.id, Enrolment.pack_id == pack_id)
    enrolment = (await session.exec(found)).first()
    if enrolment is None:
        enrolment = Enrolment(person_id=person.id, pack_id=pack_id, started_at=now)
        session.add(enrolment)
    enrolment.active = True
    if person.status == PersonStatus.ACTIVE:
        await insert_once(session, welcome_delivery(person, now))
    await session.flush()
    return enrolment


def welcome_text(person: Person, now: datetime) -> str:
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


def welcome_delivery(person: Person, now: datetime) -> Delivery:
    """The welcome message as an outbox row, due now (for people who just became active)."""
    if person.id is None:
        raise ValueError("welcome_delivery needs a saved person")
    return Delivery(
        person_id=person.id,
        delivery_key=WELCOME_KEY,
        kind="notice",
        due_at=now,
        payload={"text": welcome_text(person, now)},
    )


async def insert_once(session: AsyncSession, delivery: Delivery) -> bool:
    """Insert `delivery` unless its `(person, delivery_key)` exists; True if inserted."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    values = delivery.model_dump(exclude={"id"})
    statement = (
        dialect.insert(Delivery)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["person_id", "delivery_key"])
    )
    result = await session.exec(statement)
    return result.rowcount == 1
