"""The struggle signals of DESIGN.md step 6, each switchable per team policy.

After an answer: the same item missed `repeat_miss_count` times, the struggle
score below its threshold, or a negative score in the team's bottom share.
Daily (`silence_tick`): `silent_days` delivered working days without any
answer. Help-asking reflections and `coach` requests open cases directly
(`reflections.py`, `learner_commands.py`). Every count starts after the
learner's last resolved case, so a resolved case never reopens on old answers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.coaching.escalation import OPEN_STATUSES, open_case
from bot.coaching.people import local_today
from bot.coaching.policy import TeamPolicy, policy_for
from bot.coaching.struggle import (
    in_bottom_share,
    since_last_case,
    struggle_score,
    team_scores,
)
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


async def _missed_times(session: AsyncSession, *, person_id: int, item_id: int) -> int:
    """How often the learner got this item wrong since their last resolved case."""
    statement = select(func.count(col(Response.id))).where(
        Response.person_id == person_id,
        Response.item_id == item_id,
        col(Response.correct).is_(False),
        since_last_case(person_id),
    )
    return (await session.exec(statement)).one()


async def answer_signal(
    session: AsyncSession, *, person: Person, response: Response, policy: TeamPolicy
) -> tuple[str, str] | None:
    """The first signal this answer raises, as (signal name, reason), or None."""
    if policy.signal_repeat_miss and not response.correct:
        misses = await _missed_times(session, person_id=person.id, item_id=response.item_id)
        if misses >= policy.repeat_miss_count:
            item = await session.get_one(Item, response.item_id)
            return "repeat_miss", f"missed “{item.prompt}” ({item.key}) {misses} times"
    if not (policy.signal_score or policy.signal_bottom):
        return None
    score, answers = await struggle_score(
        session, person_id=person.id, window=policy.struggle_window
    )
    if len(answers) < policy.struggle_min_answers:
        return None  # too few answers since the last case to judge fairly
    if policy.signal_score and score < policy.struggle_threshold:
        return "score", (
            f"struggle score {score:+.2f} over the last {len(answers)} answers "
            f"(threshold {policy.struggle_threshold:+.2f})"
        )
    if policy.signal_bottom and score < 0 and person.team_id is not None:
        scores = await team_scores(
            session,
            team_id=person.team_id,
            window=policy.struggle_window,
            min_answers=policy.struggle_min_answers,
        )
        if (
            len(scores) >= policy.struggle_min_team
            and person.id in scores
            and in_bottom_share(scores, person.id, policy.struggle_bottom_share)
        ):
            return "bottom", (
                f"struggle score {score:+.2f} is in the team's bottom "
                f"{policy.struggle_bottom_share:.0%}"
            )
    return None


async def after_answer(
    session: AsyncSession,
    *,
    person: Person,
    response: Response,
    policy: TeamPolicy,
    now: datetime,
    admin_addresses: Sequence[str] = (),
) -> Escalation | None:
    """Evaluate the answer signals and open (or add to) the learner's case."""
    raised = await answer_signal(session, person=person, response=response, policy=policy)
    if raised is None:
        return None
    signal, reason = raised
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
    """A learner the silence check looks at, with what it needs to know of them."""

    person: Person
    policy: TeamPolicy
    since: datetime | None  # their last answer or last resolved case, whichever is later


async def _watched(session: AsyncSession) -> list[_Watched]:
    """Active learners with the silence signal on and no open case, in one query."""
    last_answer = (
        select(func.max(Response.answered_at))
        .where(col(Response.person_id) == Person.id)
        .scalar_subquery()
    )
    last_resolved = (
        select(func.max(Escalation.resolved_at))
        .where(
            col(Escalation.person_id) == Person.id,
            Escalation.status == EscalationStatus.RESOLVED,
        )
        .scalar_subquery()
    )
    has_open_case = exists().where(
        col(Escalation.person_id) == Person.id, col(Escalation.status).in_(OPEN_STATUSES)
    )
    statement = (
        select(Person, Team, last_answer, last_resolved)
        .outerjoin(Team, col(Team.id) == Person.team_id)
        .where(
            Person.role == Role.LEARNER,
            Person.status == PersonStatus.ACTIVE,
            ~has_open_case,
        )
        .order_by(col(Person.id))
    )
    watched = []
    for person, team, answered, resolved in (await session.exec(statement)).all():
        policy = policy_for(team)
        marks = [mark for mark in (answered, resolved) if mark is not None]
        if policy.signal_silence:
            watched.append(_Watched(person, policy, max(marks) if marks else None))
    return watched


async def _silent_days(session: AsyncSession, *, learner: _Watched, now: datetime) -> int:
    """Delivered days before today since the learner's last answer (and last resolved case)."""
    person = learner.person
    statement = select(func.count(func.distinct(Delivery.local_date))).where(
        Delivery.person_id == person.id,
        col(Delivery.kind).in_(GRADED_DAY_KINDS),
        Delivery.status == DeliveryStatus.SENT,
        col(Delivery.local_date) < local_today(person, now),
    )
    if learner.since is not None:
        statement = statement.where(col(Delivery.sent_at) > learner.since)
    return (await session.exec(statement)).one()


async def silence_tick(
    *, sessions: SessionFactory, clock: Clock, admin_addresses: Sequence[str] = ()
) -> int:
    """Open cases for learners silent for `silent_days` working days; returns cases opened.

    A working day counts when the learner was sent a lesson or prompt that day,
    so weekends, holidays and pauses never count as silence. Run it daily.
    """
    now = clock.now()
    async with sessions() as session:
        silent = [
            (learner, days)
            for learner in await _watched(session)
            if (days := await _silent_days(session, learner=learner, now=now))
            >= learner.policy.silent_days
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
