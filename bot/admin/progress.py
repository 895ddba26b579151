"""How a learner is doing over time: lessons done, their streak of answered days, topic names."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.coaching.people import local_today
from storage.models import (
    PROMPT_KINDS,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Lesson,
    Pack,
    Person,
    Reflection,
    Response,
)


async def lessons_done(
    session: AsyncSession, *, person_id: int | None = None
) -> dict[tuple[int, str], int]:
    """Lessons done per (learner, pack): what `report`, `learner show` and `export` show.

    A lesson is done once its lesson message was sent; a lesson counts once however
    often it was sent (`today` re-sends it), and only while it is live in its pack, so
    done never exceeds the pack's lesson count. Answering its quiz is not required:
    accuracy reports the answers. Callers pick the learner's current pack.
    """
    statement = (
        select(Delivery.person_id, Lesson.pack_id, func.count(func.distinct(Delivery.lesson_id)))
        .join(Lesson, col(Lesson.id) == Delivery.lesson_id)
        .where(
            Delivery.kind == DeliveryKind.LESSON,
            Delivery.status == DeliveryStatus.SENT,
            col(Lesson.retired).is_(False),
        )
        .group_by(col(Delivery.person_id), col(Lesson.pack_id))
    )
    if person_id is not None:
        statement = statement.where(Delivery.person_id == person_id)
    return {(person, pack): count for person, pack, count in (await session.exec(statement)).all()}


async def follow_ups_answered(session: AsyncSession, *, person_id: int) -> tuple[int, int]:
    """How many commitment follow-ups the learner answered, of how many they were asked."""
    statement = (
        select(func.count(col(Delivery.id)), func.count(col(Reflection.id)))
        .outerjoin(Reflection, col(Reflection.delivery_id) == Delivery.id)
        .where(
            Delivery.person_id == person_id,
            Delivery.kind == DeliveryKind.FOLLOW_UP,
            Delivery.status == DeliveryStatus.SENT,
            col(Delivery.refers_to).is_(None),
        )
    )
    asked, answered = (await session.exec(statement)).one()
    return answered, asked


async def topic_names(session: AsyncSession, topics: Iterable[str]) -> dict[str, str]:
    """What people call each topic: its name in a loaded pack, else its id in words."""
    named: dict[str, str] = {}
    for names in (await session.exec(select(Pack.topics).order_by(col(Pack.id)))).all():
        for topic, name in names.items():
            named.setdefault(topic, name)
    return {
        topic: named.get(topic) or topic.replace("-", " ").replace("_", " ").capitalize()
        for topic in topics
    }


async def streak_days(session: AsyncSession, *, person: Person, now: datetime) -> int:
    """Most recent consecutive delivered days with an answer (an unanswered today is open)."""
    answered = func.max(case((col(Response.id).is_not(None), 1), else_=0))
    days = (
        await session.exec(
            select(col(Delivery.local_date), answered)
            .outerjoin(Response, col(Response.delivery_id) == Delivery.id)
            .where(
                Delivery.person_id == person.id,
                col(Delivery.kind).in_(PROMPT_KINDS),
                Delivery.status == DeliveryStatus.SENT,
                col(Delivery.local_date).is_not(None),
            )
            .group_by(col(Delivery.local_date))
            .order_by(col(Delivery.local_date).desc())
        )
    ).all()
    today: date = local_today(person, now)
    streak = 0
    for day, done in days:
        if not done and day == today:
            continue
        if not done:
            break
        streak += 1
    return streak
