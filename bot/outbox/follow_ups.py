"""Commitment follow-ups: which lessons' "how did it go?" a learner is asked on a given day.

A lesson with a commitment is followed up `follow_up_working_days` working days
(the team's calendar) after the day it was sent. Only lessons the learner really
received count, and only on that exact day: a learner paused or away that day is
not asked later, so a return never brings a backlog of old questions.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.coaching.calendar import working_days_after
from bot.coaching.policy import TeamPolicy
from storage.models import Delivery, DeliveryKind, DeliveryStatus, Lesson, Person, Team

LOOK_BACK = timedelta(days=31)  # three working days and any run of holidays fit in a month


async def lessons_to_follow_up(
    session: AsyncSession, *, person: Person, policy: TeamPolicy, day: date
) -> list[Lesson]:
    """The lessons sent to `person` whose commitment is followed up on local date `day`."""
    statement = (
        select(Lesson, col(Delivery.local_date))
        .join(Delivery, col(Delivery.lesson_id) == col(Lesson.id))
        .where(
            Delivery.person_id == person.id,
            Delivery.kind == DeliveryKind.LESSON,
            Delivery.status == DeliveryStatus.SENT,
            col(Delivery.refers_to).is_(None),
            col(Delivery.local_date) >= day - LOOK_BACK,
            col(Delivery.local_date) < day,
            col(Lesson.commitment).is_not(None),
        )
        .order_by(col(Delivery.local_date), col(Lesson.id))
    )
    sent = [(lesson, sent_on) for lesson, sent_on in (await session.exec(statement)).all()]
    if not sent:
        return []
    team = await session.get(Team, person.team_id) if person.team_id is not None else None
    days = policy.follow_up_working_days
    return [
        lesson
        for lesson, sent_on in sent
        if sent_on is not None and working_days_after(team, sent_on, days) == day
    ]
