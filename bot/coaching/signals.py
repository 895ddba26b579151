"""The struggle signals of DESIGN.md step 6, each switchable per team policy.

After an answer: the same item missed `repeat_miss_count` times, or the
struggle z-score at or below its threshold (docs/struggle.md), within the
coaches' weekly case limit.
Daily (`silence_tick`): `silent_days` delivered working days without any
answer. Help-asking reflections and `coach` requests open cases directly
(`reflections.py`, `learner_commands.py`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.coaching.escalation import OPEN_STATUSES, coaches_for, open_case, open_case_of
from bot.coaching.people import local_today
from bot.coaching.policy import TeamPolicy, policy_for
from bot.coaching.struggle import Scored
from storage.db import SessionFactory
from storage.models import (
    GRADED_DAY_KINDS,
    Delivery,
    DeliveryStatus,
    Escalation,
    EscalationStatus,
    Item,
    Person,
    PersonStatus,
    Response,
    Role,
    Team,
)

log = logging.getLogger(__name__)


STRUGGLE_SIGNALS = ("score", "repeat_miss")  # the answer signals under the coach's weekly cap
WEEK = timedelta(days=7)


def answer_signal(
    *, item: Item, correct: bool, policy: TeamPolicy, scored: Scored | None
) -> tuple[str, str] | None:
    """The first signal an answer raises, as (signal name, reason in coach words), or None.

    Both look only at the scored window (docs/struggle.md): the last
    `struggle_days` working days, or since the last resolved case in its cool-down.
    `scored` is that window's evidence with this answer in it (None: not read,
    since neither signal is on).
    """
    if scored is None:
        return None
    if policy.signal_repeat_miss and not correct and scored.misses >= policy.repeat_miss_count:
        return "repeat_miss", f"missed “{item.prompt}” ({item.key}) {scored.misses} times"
    if policy.signal_score and scored.evidence.strong(policy):
        return "score", scored.evidence.in_words(scored.window.days)
    return None


def watches_answers(policy: TeamPolicy) -> bool:
    """Whether either answer signal is on, so an answer's window evidence is needed."""
    return policy.signal_repeat_miss or policy.signal_score


def _signal_of() -> Any:
    """The signal that opened a case, read from its evidence (a SQL expression)."""
    return col(Escalation.evidence)["signal"].as_string()


async def past_case_limit(
    session: AsyncSession, *, person: Person, policy: TeamPolicy, now: datetime
) -> bool:
    """True when the learner's coaches got their weekly share of new struggle cases already.

    The limit is `struggle_cases_per_coach_week` for each of the team's coaches
    (the admins stand in for a team without one), over the last seven days.
    """
    if person.team_id is None:
        return False
    opened = (
        await session.exec(
            select(func.count(col(Escalation.id)))
            .join(Person, col(Person.id) == Escalation.person_id)
            .where(
                Person.team_id == person.team_id,
                Escalation.opened_at > now - WEEK,
                _signal_of().in_(STRUGGLE_SIGNALS),
            )
        )
    ).one()
    coaches = max(len(await coaches_for(session, person)), 1)
    return opened >= policy.struggle_cases_per_coach_week * coaches


async def raise_case(
    session: AsyncSession,
    *,
    person: Person,
    raised: tuple[str, str],
    policy: TeamPolicy,
    now: datetime,
    admin_addresses: Sequence[str] = (),
) -> Escalation | None:
    """Open (or add to) the learner's case for an answer signal (`answer_signal`).

    Past the coaches' weekly limit no case opens; the learner is listed in the
    coaches' digest by strength of evidence instead (`outbox/digest.py`).
    """
    signal, reason = raised
    existing = await open_case_of(session, person.id)
    if existing is None and await past_case_limit(session, person=person, policy=policy, now=now):
        log.info("person %s: %s, held for the digest (weekly case limit)", person.id, reason)
        return None
    case, _ = await open_case(
        session,
        person=person,
        signal=signal,
        reason=reason,
        now=now,
        admin_addresses=admin_addresses,
    )
    return case


@dataclass(frozen=True, slots=True)
class _Watched:
    """A learner the silence check looks at, with their team's policy."""

    person: Person
    policy: TeamPolicy


async def _watched(session: AsyncSession, *, now: datetime) -> list[_Watched]:
    """Active learners with the silence signal on, no open case and no recent answer.

    A learner silent for `silent_days` delivered days has not answered since the
    first of them, which ended `silent_days - 1` days ago or more: anyone who
    answered in the last `silent_days - 2` days (a day's margin for time zones
    and a send at midnight) is left in the database, one probe of the
    (person, answered_at) index each, so the check reads only the learners it
    may concern.
    """
    teams = (await session.exec(select(Team))).all()
    watching = [policy_for(team) for team in teams] + [policy_for(None)]
    days = min((p.silent_days for p in watching if p.signal_silence), default=None)
    if days is None:
        return []
    has_open_case = exists().where(
        col(Escalation.person_id) == Person.id, col(Escalation.status).in_(OPEN_STATUSES)
    )
    answered_lately = exists().where(
        col(Response.person_id) == Person.id,
        col(Response.answered_at) >= now - timedelta(days=days - 2),
    )
    statement = (
        select(Person, Team)
        .outerjoin(Team, col(Team.id) == Person.team_id)
        .where(
            Person.role == Role.LEARNER,
            Person.status == PersonStatus.ACTIVE,
            ~has_open_case,
            ~answered_lately,
        )
        .order_by(col(Person.id))
    )
    watched = [
        _Watched(person, policy_for(team)) for person, team in (await session.exec(statement)).all()
    ]
    return [learner for learner in watched if learner.policy.signal_silence]


async def _silent_days(
    session: AsyncSession, *, watched: list[_Watched], now: datetime
) -> dict[int, int]:
    """Delivered days before each learner's today since their last answer and last resolved case.

    One query for everyone: each learner's delivered dates after both marks.
    """
    last_answer = (
        select(func.max(Response.answered_at))
        .where(col(Response.person_id) == Delivery.person_id)
        .scalar_subquery()
    )
    last_resolved = (
        select(func.max(Escalation.resolved_at))
        .where(
            col(Escalation.person_id) == Delivery.person_id,
            Escalation.status == EscalationStatus.RESOLVED,
        )
        .scalar_subquery()
    )
    people = {learner.person.id: learner.person for learner in watched}
    statement = (
        select(Delivery.person_id, col(Delivery.local_date))
        .where(
            col(Delivery.person_id).in_(people),
            col(Delivery.kind).in_(GRADED_DAY_KINDS),
            Delivery.status == DeliveryStatus.SENT,
            or_(last_answer.is_(None), col(Delivery.sent_at) > last_answer),
            or_(last_resolved.is_(None), col(Delivery.sent_at) > last_resolved),
        )
        .distinct()
    )
    days: Counter[int] = Counter()
    for person_id, day in (await session.exec(statement)).all():
        if day is not None and day < local_today(people[person_id], now):
            days[person_id] += 1
    return days


async def silence_tick(
    *, sessions: SessionFactory, clock: Clock, admin_addresses: Sequence[str] = ()
) -> int:
    """Open cases for learners silent for `silent_days` working days; returns cases opened.

    A working day counts when the learner was sent a lesson or prompt that day,
    so weekends, holidays and pauses never count as silence. Run it daily.
    """
    now = clock.now()
    async with sessions() as session:
        watched = await _watched(session, now=now)
        counted = await _silent_days(session, watched=watched, now=now) if watched else {}
        silent = [
            (learner, days)
            for learner in watched
            if (days := counted[learner.person.id]) >= learner.policy.silent_days
        ]
    opened = 0
    for learner, days in silent:
        try:
            async with sessions.begin() as session:
                _, new = await open_case(
                    session,
                    person=await session.get_one(Person, learner.person.id),
                    signal="silence",
                    reason=f"no answer on {days} working days",
                    now=now,
                    admin_addresses=admin_addresses,
                )
                opened += int(new)
        except IntegrityError:
            log.info("%s got a case from another process meanwhile", learner.person.name)
    return opened
