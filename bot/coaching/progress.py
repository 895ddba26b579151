"""How a learner is doing over time: their streak of answered days, and topic names."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.coaching.people import local_today
from storage.models import Delivery, DeliveryStatus, Pack, Person, Response


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
            select(Delivery.local_date, answered)
            .outerjoin(Response, col(Response.delivery_id) == Delivery.id)
            .where(
                Delivery.person_id == person.id,
                col(Delivery.kind).in_(("quiz", "review")),
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
