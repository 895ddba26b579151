"""What one learner gets on one day: the next lesson, its quiz, a reflection, due reviews.

Last come the follow-ups of earlier lessons' commitments due that day.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TypeVar

from sqlalchemy import ColumnElement, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.coaching.people import local_today
from bot.coaching.policy import TeamPolicy
from bot.outbox.follow_ups import lessons_to_follow_up
from bot.outbox.queue import Planned, queue_planned
from storage.models import (
    DAY_KINDS,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Enrolment,
    Item,
    Lesson,
    Person,
    ReviewState,
)

LIVE_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED, DeliveryStatus.SENT)
EXPIRED = "expired: its day passed before it was sent"
MISSED = "missed: could not be delivered before the end of the learner's day"

Reason = TypeVar("Reason", str, ColumnElement[str])


def missed_reason(last_error: Reason) -> Reason:
    """The reason of a row whose retries ran out with the day (a string or a SQL expression)."""
    return f"{MISSED} (last error: " + last_error + ")"


def is_missed(delivery: Delivery, person: Person, now: datetime) -> bool:
    """True for a row put back after a failed send whose learner's local day is over.

    The dispatcher leaves the send's error in `reason` when it puts a row back;
    the day is the row's local date, or the learner's date when it was queued.
    """
    if delivery.reason is None:
        return False
    day = delivery.local_date or local_today(person, delivery.created_at)
    return day < local_today(person, now)


def is_expired(delivery: Delivery, today: date) -> bool:
    """True for a lesson, prompt or nudge of a local date before `today`."""
    return (
        delivery.kind in DAY_KINDS
        and delivery.local_date is not None
        and delivery.local_date < today
    )


async def expire_past_days(session: AsyncSession, *, person_id: int, today: date) -> int:
    """End the learner's unsent rows of earlier days, so downtime never sends a backlog.

    Rows still waiting for a retry after a failed send are missed (failed, with
    the last error); the others are cancelled. Neither is "given", so the lesson
    comes round again as the next lesson.
    """
    unsent = update(Delivery).where(
        col(Delivery.person_id) == person_id,
        col(Delivery.status) == DeliveryStatus.PENDING,
        col(Delivery.kind).in_(DAY_KINDS),
        col(Delivery.local_date) < today,
    )
    missed = unsent.where(col(Delivery.reason).is_not(None)).values(
        status=DeliveryStatus.FAILED,
        # SQLModel's col() is typed as a mapped attribute; it is a SQL expression here.
        reason=missed_reason(col(Delivery.reason)),  # type: ignore[type-var]
    )
    expired = unsent.values(status=DeliveryStatus.CANCELLED, reason=EXPIRED)
    ended = 0
    for statement in (missed, expired):
        options = statement.execution_options(synchronize_session=False)
        ended += (await session.exec(options)).rowcount
    return ended


async def next_lesson(session: AsyncSession, *, person_id: int, pack_id: str) -> Lesson | None:
    """The first lesson of the pack (by order) not yet sent or on its way to the learner.

    A lesson whose delivery failed or was cancelled (a pause) comes round again.
    """
    given = select(Delivery.lesson_id).where(
        Delivery.person_id == person_id,
        Delivery.kind == DeliveryKind.LESSON,
        col(Delivery.status).in_(LIVE_STATUSES),
        col(Delivery.lesson_id).is_not(None),
    )
    statement = (
        select(Lesson)
        .where(
            Lesson.pack_id == pack_id,
            col(Lesson.retired).is_(False),
            col(Lesson.id).not_in(given),
        )
        .order_by(col(Lesson.order), col(Lesson.id))
        .limit(1)
    )
    return (await session.exec(statement)).first()


async def lesson_items(session: AsyncSession, lesson_id: int) -> list[Item]:
    """The live quiz items of a lesson in pack order."""
    statement = (
        select(Item)
        .where(Item.lesson_id == lesson_id, col(Item.retired).is_(False))
        .order_by(col(Item.position), col(Item.id))
    )
    return list((await session.exec(statement)).all())


async def due_reviews(
    session: AsyncSession, *, person_id: int, until: datetime, cap: int, skip: set[int]
) -> list[Item]:
    """Up to `cap` live items whose review is due by `until`, most overdue first."""
    if cap <= 0:
        return []
    statement = (
        select(Item)
        .join(ReviewState, col(ReviewState.item_id) == col(Item.id))
        .where(
            ReviewState.person_id == person_id,
            ReviewState.due <= until,
            col(Item.retired).is_(False),
            col(Item.id).not_in(skip or {-1}),
        )
        .order_by(col(ReviewState.due), col(Item.id))
        .limit(cap)
    )
    return list((await session.exec(statement)).all())


async def plan_day(
    session: AsyncSession,
    *,
    person: Person,
    enrolment: Enrolment,
    policy: TeamPolicy,
    day: date,
    due_at: datetime,
    now: datetime,
) -> int:
    """Insert the learner's rows for local date `day` (one statement); returns how many.

    A learner who has finished the pack gets due reviews only, and the
    enrolment records when they finished.
    """
    rows: list[Planned] = []

    def planned(
        key: str, kind: DeliveryKind, *, lesson_id: int | None = None, item_id: int | None = None
    ) -> Planned:
        """One row of this learner's day."""
        return Planned(person.id, key, kind, day, due_at, lesson_id=lesson_id, item_id=item_id)

    lesson = await next_lesson(session, person_id=person.id, pack_id=enrolment.pack_id)
    quiz: list[Item] = []
    if lesson is not None:
        quiz = await lesson_items(session, lesson.id)
        rows.append(planned(f"lesson:{day}", kind=DeliveryKind.LESSON, lesson_id=lesson.id))
        rows += [
            planned(
                f"quiz:{day}:{item.key}",
                kind=DeliveryKind.QUIZ,
                item_id=item.id,
                lesson_id=lesson.id,
            )
            for item in quiz
        ]
    elif enrolment.finished_at is None:
        enrolment.finished_at = now
        session.add(enrolment)
    reviews = await due_reviews(
        session,
        person_id=person.id,
        until=due_at,
        cap=policy.review_cap,
        skip={item.id for item in quiz},
    )
    rows += [
        planned(f"review:{day}:{item.key}", kind=DeliveryKind.REVIEW, item_id=item.id)
        for item in reviews
    ]
    if lesson is not None and lesson.reflection:
        rows.append(planned(f"reflection:{day}", kind=DeliveryKind.REFLECTION, lesson_id=lesson.id))
    rows += [
        planned(f"follow_up:{day}:{earlier.key}", kind=DeliveryKind.FOLLOW_UP, lesson_id=earlier.id)
        for earlier in await lessons_to_follow_up(session, person=person, policy=policy, day=day)
    ]
    return await queue_planned(session, rows, now=now)
