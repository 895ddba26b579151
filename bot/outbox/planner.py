"""The plan tick: give every learner whose send time has come today's rows, once.

Only today's local date is ever planned, so after downtime a learner gets at
most today's delivery, never a backlog. Rows are keyed `(learner, key)` with
the local date in the key, so planning twice, or in two processes at once,
adds nothing the second time.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.coaching.calendar import calendar_for, local_date, send_instant
from bot.coaching.pauses import is_paused, resume_if_due
from bot.coaching.policy import policy_for
from bot.outbox.daily import expire_past_days, plan_day
from storage.db import SessionFactory
from storage.models import PLANNED_KINDS, Delivery, Enrolment, Person, PersonStatus, Role, Team

log = logging.getLogger(__name__)


@dataclass
class PlanResult:
    """What one plan tick did: learners planned, rows added, and why others were skipped."""

    planned: list[str] = field(default_factory=list)
    rows: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    deferred: int = 0  # due learners left for the next tick (see `batch`)


@dataclass(frozen=True, slots=True)
class _Learner:
    """A learner with what planning needs of them: plain values, cheaper than entities."""

    person_id: int
    name: str
    timezone: str
    send_time: str
    paused_until: date | None
    enrolment_id: int
    team: Team | None


async def _learners(session: AsyncSession, person_ids: Collection[int] | None) -> list[_Learner]:
    """Active learners with an active enrolment (optionally only `person_ids`)."""
    statement = (
        select(  # type: ignore[call-overload]  # SQLModel types select() up to four columns
            Person.id,
            Person.name,
            Person.timezone,
            Person.send_time,
            Person.paused_until,
            Enrolment.id,
            Team,
        )
        .join(Enrolment, col(Enrolment.person_id) == col(Person.id))
        .outerjoin(Team, col(Team.id) == col(Person.team_id))
        .where(
            Person.role == Role.LEARNER,
            Person.status == PersonStatus.ACTIVE,
            col(Enrolment.active).is_(True),
        )
        .order_by(col(Person.id))
    )
    if person_ids is not None:
        statement = statement.where(col(Person.id).in_(person_ids))
    return [_Learner(*row) for row in (await session.exec(statement)).all()]


async def _not_plannable(session: AsyncSession, person_ids: Collection[int]) -> Counter[str]:
    """Why each of these people is never planned: their status, role or missing enrolment."""
    reasons: Counter[str] = Counter()
    statement = select(Person).where(col(Person.id).in_(person_ids))
    for person in (await session.exec(statement)).all():
        if person.role != Role.LEARNER:
            reasons[f"not a learner ({person.role})"] += 1
        elif person.status != PersonStatus.ACTIVE:
            reasons[str(person.status)] += 1
        else:
            reasons["not enrolled in a pack"] += 1
    return reasons


async def _planned_days(session: AsyncSession, since: date) -> set[tuple[int, date | None]]:
    """(learner, local date) pairs that already have a day's plan on or after `since`."""
    statement = (
        select(Delivery.person_id, col(Delivery.local_date))
        .where(col(Delivery.kind).in_(PLANNED_KINDS), col(Delivery.local_date) >= since)
        .distinct()
    )
    return {(person_id, day) for person_id, day in (await session.exec(statement)).all()}


async def plan_tick(
    *,
    sessions: SessionFactory,
    clock: Clock,
    person_ids: Collection[int] | None = None,
    now_for_everyone: bool = False,
    batch: int | None = 500,
    progress: Callable[[int], None] | None = None,
) -> PlanResult:
    """Plan today's rows for every learner whose local send time has passed.

    Active learners with an active enrolment are planned; with `person_ids`,
    only those, and the others among them are counted in `skipped` with the
    reason. At most `batch` learners are planned per tick (the rest are
    `deferred` to the next one), so a tick stays short; `batch=None` plans
    them all. `progress(n)` is called as each next `n` learners are dealt with.
    `now_for_everyone` is `deliver now`: today's lesson is planned at once,
    ignoring working days, holidays and the send time, but never for a paused
    learner; it uses the same local-date keys, so the scheduler will not send
    that day again.
    """
    now = clock.now()
    result = PlanResult()
    async with sessions() as session:
        learners = await _learners(session, person_ids)
        done = await _planned_days(session, (now - timedelta(days=2)).date())
        if person_ids is not None:
            found = {learner.person_id for learner in learners}
            others = [person_id for person_id in person_ids if person_id not in found]
            if others:
                result.skipped.update(await _not_plannable(session, others))
    if progress is not None:
        progress(result.skipped.total())
    attempts = 0
    for learner in learners:
        if progress is not None:
            progress(1)
        today = local_date(now, learner.timezone)
        if (learner.person_id, today) in done:
            result.skipped["already planned today"] += 1
            continue
        reason = _not_today(learner, today, now, now_for_everyone)
        if reason:
            result.skipped[reason] += 1
            continue
        if batch is not None and attempts >= batch:
            result.deferred += 1
            continue
        attempts += 1
        due_at = (
            now if now_for_everyone else send_instant(today, learner.send_time, learner.timezone)
        )
        added = await _plan_one(sessions, learner, today, due_at, now)
        if isinstance(added, str):
            result.skipped[added] += 1
        elif added == 0:
            result.skipped["pack finished, no reviews due"] += 1
        else:
            result.planned.append(learner.name)
            result.rows += added
    return result


def _not_today(learner: _Learner, today: date, now: datetime, now_for_everyone: bool) -> str:
    """Why this learner gets nothing now, or '' when they are due."""
    if is_paused(learner, today):
        return "paused"
    if now_for_everyone:
        return ""
    if not calendar_for(learner.team).is_working_day(today):
        return "not a working day"
    if now < send_instant(today, learner.send_time, learner.timezone):
        return "send time not reached"
    return ""


async def _plan_one(
    sessions: SessionFactory, learner: _Learner, today: date, due_at: datetime, now: datetime
) -> int | str:
    """Plan one learner's day in its own transaction: rows added, or why none were.

    The learner is read again in the transaction (on PostgreSQL locked for it,
    so a pause or stop waits and then cancels what was planned): someone who
    paused, stopped or left since the tick's first read gets nothing.
    """
    try:
        async with sessions() as session, session.begin():
            person, enrolment = (
                await session.exec(
                    select(Person, Enrolment)
                    .join(Enrolment, col(Enrolment.person_id) == Person.id)
                    .where(Enrolment.id == learner.enrolment_id)
                    .with_for_update(of=Person)
                )
            ).one()
            await resume_if_due(session, person=person, now=now)
            if person.status != PersonStatus.ACTIVE:
                return str(person.status)
            if is_paused(person, today):
                return "paused"
            if not enrolment.active:
                return "not enrolled in a pack"
            await expire_past_days(session, person_id=person.id, today=today)
            return await plan_day(
                session,
                person=person,
                enrolment=enrolment,
                policy=policy_for(learner.team),
                day=today,
                due_at=due_at,
                now=now,
            )
    except IntegrityError:
        log.info("%s: today's rows were planned by another process", learner.name)
        return "planned by another process"
