"""What one learner gets on one day: the next lesson, its quiz, a reflection, due reviews.

Last come the follow-ups of earlier lessons' commitments due that day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from sqlalchemy import ColumnElement, bindparam, exists, func, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.coaching.people import local_today
from bot.coaching.policy import TeamPolicy
from bot.coaching.review import due_by
from bot.outbox.follow_ups import lessons_to_follow_up
from bot.outbox.queue import Planned, queue_planned
from storage.db import in_chunks
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


async def expire_past_days(session: AsyncSession, *, person_ids: Sequence[int], today: date) -> int:
    """End the learners' unsent rows of days before `today`, so downtime never sends a backlog.

    Rows still waiting for a retry after a failed send are missed (failed, with
    the last error); the others are cancelled. Neither is "given", so the lesson
    comes round again as the next lesson.
    """
    unsent = update(Delivery).where(
        col(Delivery.person_id).in_(person_ids),
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


@dataclass(frozen=True, slots=True)
class LearnerDay:
    """One learner's day to plan: who, their enrolment and team policy, the local date, when due.

    Plain values, not entities: a batch plans thousands of learners.
    """

    person_id: int
    timezone: str
    team_id: int | None
    enrolment_id: int
    finished: bool  # the enrolment records that its pack was finished
    policy: TeamPolicy
    day: date
    due_at: datetime

    @property
    def reviews_until(self) -> datetime:
        """Reviews due before this are offered today: the end of the learner's local date."""
        return due_by(self.day, self.timezone)


# The first live lesson of the enrolment's pack not given to its learner (one probe of the
# (person, lesson) index per lesson given): every learner of a batch in one statement.
_GIVEN = aliased(Delivery)
_FIRST_OPEN_LESSON = (
    select(col(Lesson.id))
    .where(
        col(Lesson.pack_id) == col(Enrolment.pack_id),
        col(Lesson.retired).is_(False),
        ~exists()
        .where(
            col(_GIVEN.person_id) == col(Enrolment.person_id),
            col(_GIVEN.lesson_id) == col(Lesson.id),
            col(_GIVEN.kind) == DeliveryKind.LESSON,
            col(_GIVEN.status).in_(LIVE_STATUSES),
        )
        .correlate_except(_GIVEN),
    )
    .order_by(col(Lesson.order), col(Lesson.id))
    .limit(1)
    .correlate(Enrolment)
    .scalar_subquery()
)


_FINISHED = (
    update(Enrolment)
    .where(col(Enrolment.id).in_(bindparam("enrolments", expanding=True)))
    .values(finished_at=bindparam("at"))
    .execution_options(synchronize_session=False)
)


async def _next_lessons(
    session: AsyncSession, enrolment_ids: list[int]
) -> dict[int, tuple[Lesson, list[Item]]]:
    """Each enrolment's next lesson with its live quiz items (enrolments with none left out)."""
    statement = select(Enrolment.id, _FIRST_OPEN_LESSON).where(col(Enrolment.id).in_(enrolment_ids))
    found = {e: lesson for e, lesson in (await session.exec(statement)).all() if lesson is not None}
    if not found:
        return {}
    unique = set(found.values())
    lessons: dict[int, tuple[Lesson, list[Item]]] = {
        lesson.id: (lesson, [])
        for lesson in (await session.exec(select(Lesson).where(col(Lesson.id).in_(unique)))).all()
    }
    items = (
        select(Item)
        .where(col(Item.lesson_id).in_(unique), col(Item.retired).is_(False))
        .order_by(col(Item.position), col(Item.id))
    )
    for item in (await session.exec(items)).all():
        lessons[item.lesson_id][1].append(item)
    return {enrolment_id: lessons[lesson_id] for enrolment_id, lesson_id in found.items()}


async def _due_reviews(
    session: AsyncSession, days: Sequence[LearnerDay], *, most: int
) -> dict[int, list[tuple[datetime, Item]]]:
    """Each learner's `most` most overdue live items due by the latest due time, in that order.

    A learner behind on reviews has many more due than a day takes; only the
    first few are read, so planning does not grow with the backlog.
    """
    people = [day.person_id for day in days if day.policy.review_cap > 0]
    if not people:
        return {}
    overdue = (col(ReviewState.due), col(ReviewState.item_id))
    rank = func.row_number().over(partition_by=col(ReviewState.person_id), order_by=overdue)
    ranked = (
        select(ReviewState.person_id, ReviewState.due, ReviewState.item_id, rank.label("rank"))
        .join(Item, col(Item.id) == col(ReviewState.item_id))
        .where(
            col(ReviewState.person_id).in_(people),
            ReviewState.due < max(day.reviews_until for day in days),
            col(Item.retired).is_(False),
        )
        .subquery()
    )
    statement = (
        select(ranked.c.person_id, ranked.c.due, Item)
        .join(Item, col(Item.id) == ranked.c.item_id)
        .where(ranked.c.rank <= most)
        .order_by(ranked.c.person_id, ranked.c.due, col(Item.id))
    )
    due: dict[int, list[tuple[datetime, Item]]] = {}
    for person_id, when, item in (await session.exec(statement)).all():
        due.setdefault(person_id, []).append((when, item))
    return due


def _day_rows(
    learner: LearnerDay,
    next_up: tuple[Lesson, list[Item]] | None,
    due: list[tuple[datetime, Item]],
    follow_ups: Sequence[Lesson],
) -> list[Planned]:
    """A learner's rows for the day: the next lesson, its quiz, due reviews, its reflection,
    then the follow-ups of earlier commitments."""
    person_id, day = learner.person_id, learner.day

    def planned(
        key: str, kind: DeliveryKind, *, lesson_id: int | None = None, item_id: int | None = None
    ) -> Planned:
        """One row of this learner's day."""
        return Planned(
            person_id, key, kind, day, learner.due_at, lesson_id=lesson_id, item_id=item_id
        )

    lesson, quiz = next_up if next_up is not None else (None, [])
    rows: list[Planned] = []
    if lesson is not None:
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
    skip = {item.id for item in quiz}
    until = learner.reviews_until
    reviews = [item for when, item in due if when < until and item.id not in skip]
    rows += [
        planned(f"review:{day}:{item.key}", kind=DeliveryKind.REVIEW, item_id=item.id)
        for item in reviews[: learner.policy.review_cap]
    ]
    if lesson is not None and lesson.reflection:
        rows.append(planned(f"reflection:{day}", kind=DeliveryKind.REFLECTION, lesson_id=lesson.id))
    rows += [
        planned(f"follow_up:{day}:{earlier.key}", kind=DeliveryKind.FOLLOW_UP, lesson_id=earlier.id)
        for earlier in follow_ups
    ]
    return rows


async def plan_days(
    session: AsyncSession, days: Sequence[LearnerDay], *, now: datetime
) -> dict[int, int]:
    """Insert many learners' rows for their local dates at once; rows added per person id.

    A few statements for the whole batch, whatever its size or the learners'
    history. A learner who has finished the pack gets due reviews only, and the
    enrolment records when they finished. Any key already taken (another
    process planned the same learner) is an IntegrityError for the whole batch.
    """
    next_up = await _next_lessons(session, [day.enrolment_id for day in days])
    # Enough for the largest day: its cap, and as many more as its quiz may take out.
    most = max((day.policy.review_cap for day in days), default=0) + max(
        (len(items) for _, items in next_up.values()), default=0
    )
    due = await _due_reviews(session, days, most=most)
    follow_ups = await lessons_to_follow_up(session, days)
    rows: list[Planned] = []
    added: dict[int, int] = {}
    finished: list[int] = []
    for learner in days:
        mine = _day_rows(
            learner,
            next_up.get(learner.enrolment_id),
            due.get(learner.person_id, []),
            follow_ups.get(learner.person_id, []),
        )
        if learner.enrolment_id not in next_up and not learner.finished:
            finished.append(learner.enrolment_id)
        rows += mine
        added[learner.person_id] = len(mine)
    for chunk in in_chunks(finished):
        await session.exec(_FINISHED, params={"enrolments": chunk, "at": now})
    await queue_planned(session, rows, now=now)
    return added
