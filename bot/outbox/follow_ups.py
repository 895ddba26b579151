"""Commitment follow-ups: which lessons' "how did it go?" a learner is asked on a given day.

A lesson with a commitment is followed up `follow_up_working_days` working days
(the team's calendar) after the day it was sent. Only lessons the learner really
received count, and only on that exact day: a learner paused or away that day is
not asked later, so a return never brings a backlog of old questions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Protocol

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.coaching.calendar import working_days_after
from bot.coaching.policy import TeamPolicy
from storage.models import Delivery, DeliveryKind, DeliveryStatus, Lesson, Team

LOOK_BACK = timedelta(days=31)  # three working days and any run of holidays fit in a month


class Asked(Protocol):
    """A learner's day to plan: who, their team's policy and the local date."""

    @property
    def person_id(self) -> int: ...

    @property
    def team_id(self) -> int | None: ...

    @property
    def policy(self) -> TeamPolicy: ...

    @property
    def day(self) -> date: ...


async def lessons_to_follow_up(
    session: AsyncSession, learners: Sequence[Asked]
) -> dict[int, list[Lesson]]:
    """Per person id, the lessons sent to them whose commitment is followed up on their day.

    One query for the whole batch, however many learners it holds.
    """
    if not learners:
        return {}
    days = {learner.person_id: learner for learner in learners}
    first = min(learner.day for learner in learners) - LOOK_BACK
    statement = (
        select(Lesson, col(Delivery.person_id), col(Delivery.local_date))
        .join(Delivery, col(Delivery.lesson_id) == col(Lesson.id))
        .where(
            col(Delivery.person_id).in_(list(days)),
            Delivery.kind == DeliveryKind.LESSON,
            Delivery.status == DeliveryStatus.SENT,
            col(Delivery.refers_to).is_(None),
            col(Delivery.local_date) >= first,
            col(Delivery.local_date) < max(learner.day for learner in learners),
            col(Lesson.commitment).is_not(None),
        )
        .order_by(col(Delivery.local_date), col(Lesson.id))
    )
    teams: dict[int | None, Team | None] = {None: None}
    found: dict[int, list[Lesson]] = defaultdict(list)
    for lesson, person_id, sent_on in (await session.exec(statement)).all():
        learner = days[person_id]
        if sent_on is None or not learner.day - LOOK_BACK <= sent_on < learner.day:
            continue
        team_id = learner.team_id
        if team_id not in teams:
            teams[team_id] = await session.get(Team, team_id)
        days_after = learner.policy.follow_up_working_days
        if working_days_after(teams[team_id], sent_on, days_after) == learner.day:
            found[person_id].append(lesson)
    return found
