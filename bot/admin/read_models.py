"""What admins and coaches read: per-learner progress, cases, and one learner in detail.

Everything here is computed from the database with a few grouped queries, so
`report`, `escalations list`, `learner show` and the demo's report agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.admin.progress import lessons_done, streak_days
from bot.admin.teams import calendar_label, workdays_label
from bot.coaching.escalation import OPEN_STATUSES
from bot.outbox.daily import MISSED
from storage.models import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Enrolment,
    Escalation,
    EscalationEvent,
    Item,
    Lesson,
    Person,
    PersonStatus,
    Reflection,
    Response,
    ReviewState,
    Role,
    Team,
)

RECENT_ANSWERS = 10
RECENT_REFLECTIONS = 5
CASE_STATUSES = ("open", "claimed", "resolved", "all")

_RIGHT = func.coalesce(func.sum(case((col(Response.correct), 1), else_=0)), 0)


def share(right: int, total: int) -> float | None:
    """right / total rounded to 3 places, or None when nothing was answered."""
    return round(right / total, 3) if total else None


def percent(value: float | None) -> str:
    """A share as `73%`, or `-` when there is none."""
    return "-" if value is None else f"{value:.0%}"


def hours_between(start: datetime, end: datetime) -> float:
    """Hours from `start` to `end`, one decimal."""
    return round((end - start).total_seconds() / 3600, 1)


def age_text(hours: float) -> str:
    """`5.5h` under two days, `3.2d` after."""
    return f"{hours:.1f}h" if hours < 48 else f"{hours / 24:.1f}d"


@dataclass(frozen=True, slots=True)
class LearnerRow:
    """One learner in `report`: progress through their pack, answers, reviews, case."""

    name: str
    team: str | None
    status: str
    pack: str | None
    lessons_done: int
    lessons_total: int
    finished: bool
    answers: int
    correct: int
    accuracy: float | None
    reviews_sent: int
    reviews_due: int
    reflections: int
    missed: int  # messages that could not be delivered before the end of the learner's day
    open_case: str | None

    @property
    def progress(self) -> str:
        """`4/12`, or `12/12 finished` once the pack is done (reviews only from then on)."""
        done = f"{self.lessons_done}/{self.lessons_total}"
        return f"{done} finished" if self.finished else done


@dataclass(frozen=True, slots=True)
class Totals:
    """The cohort's totals under the per-learner rows."""

    learners: int
    finished: int
    answers: int
    correct: int
    accuracy: float | None
    reviews_sent: int
    reflections: int
    missed: int
    open_cases: int


def _grouped(rows: Sequence[Any]) -> dict[Any, Any]:
    """`{key: value}` from (key, value) rows."""
    return {key: value for key, value in rows}


async def _count_by_person(session: AsyncSession, statement: Any) -> dict[int, int]:
    """Run a `(person_id, count)` grouped query."""
    return _grouped((await session.exec(statement)).all())


async def learner_rows(
    session: AsyncSession, *, now: datetime, person_id: int | None = None
) -> list[LearnerRow]:
    """Every learner who has not been forgotten (or just `person_id`), by team and name."""
    statement = (
        select(Person, Team, Enrolment)
        .outerjoin(Team, col(Team.id) == Person.team_id)
        .outerjoin(
            Enrolment,
            (col(Enrolment.person_id) == Person.id) & col(Enrolment.active).is_(True),
        )
        .order_by(col(Team.name), col(Person.name), col(Person.id))
    )
    if person_id is None:
        statement = statement.where(
            Person.role == Role.LEARNER, Person.status != PersonStatus.FORGOTTEN
        )
    else:
        statement = statement.where(Person.id == person_id)
    people = (await session.exec(statement)).all()
    lesson_totals = _grouped(
        (
            await session.exec(
                select(Lesson.pack_id, func.count(col(Lesson.id)))
                .where(col(Lesson.retired).is_(False))
                .group_by(col(Lesson.pack_id))
            )
        ).all()
    )
    lessons_sent = await lessons_done(session, person_id=person_id)
    answers = {
        person_id: (right, total)
        for person_id, right, total in (
            await session.exec(
                select(Response.person_id, _RIGHT, func.count(col(Response.id))).group_by(
                    col(Response.person_id)
                )
            )
        ).all()
    }
    reviews_sent = await _count_by_person(
        session,
        select(Delivery.person_id, func.count(col(Delivery.id)))
        .where(
            Delivery.kind == DeliveryKind.REVIEW,
            Delivery.status == DeliveryStatus.SENT,
            col(Delivery.refers_to).is_(None),  # a copy sent again by `today` is the same review
        )
        .group_by(col(Delivery.person_id)),
    )
    reviews_due = await _count_by_person(
        session,
        select(ReviewState.person_id, func.count(col(ReviewState.id)))
        .where(ReviewState.due <= now)
        .group_by(col(ReviewState.person_id)),
    )
    reflections = await _count_by_person(
        session,
        select(Reflection.person_id, func.count(col(Reflection.id))).group_by(
            col(Reflection.person_id)
        ),
    )
    missed = await _count_by_person(
        session,
        select(Delivery.person_id, func.count(col(Delivery.id)))
        .where(Delivery.status == DeliveryStatus.FAILED, col(Delivery.reason).startswith(MISSED))
        .group_by(col(Delivery.person_id)),
    )
    cases = {
        person_id: f"#{case_id} {status}"
        for person_id, case_id, status in (
            await session.exec(
                select(Escalation.person_id, Escalation.id, Escalation.status).where(
                    col(Escalation.status).in_(OPEN_STATUSES)
                )
            )
        ).all()
    }
    rows = []
    for person, team, enrolment in people:
        pack = enrolment.pack_id if enrolment else None
        total = lesson_totals.get(pack, 0)
        done = lessons_sent.get((person.id, pack), 0) if pack else 0
        right, count = answers.get(person.id, (0, 0))
        rows.append(
            LearnerRow(
                name=person.name,
                team=team.name if team else None,
                status=person.status,
                pack=pack,
                lessons_done=done,
                lessons_total=total,
                finished=enrolment is not None
                and (enrolment.finished_at is not None or (total > 0 and done >= total)),
                answers=count,
                correct=right,
                accuracy=share(right, count),
                reviews_sent=reviews_sent.get(person.id, 0),
                reviews_due=reviews_due.get(person.id, 0),
                reflections=reflections.get(person.id, 0),
                missed=missed.get(person.id, 0),
                open_case=cases.get(person.id),
            )
        )
    return rows


def totals(rows: Sequence[LearnerRow]) -> Totals:
    """Sum the per-learner rows."""
    answers = sum(row.answers for row in rows)
    correct = sum(row.correct for row in rows)
    return Totals(
        learners=len(rows),
        finished=sum(row.finished for row in rows),
        answers=answers,
        correct=correct,
        accuracy=share(correct, answers),
        reviews_sent=sum(row.reviews_sent for row in rows),
        reflections=sum(row.reflections for row in rows),
        missed=sum(row.missed for row in rows),
        open_cases=sum(row.open_case is not None for row in rows),
    )


def report_json(rows: Sequence[LearnerRow]) -> dict[str, Any]:
    """`report --json`: the learners and the totals."""
    return {
        "learners": [{**asdict(row), "progress": row.progress} for row in rows],
        "totals": asdict(totals(rows)),
    }


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One line of `escalations list`."""

    id: int
    learner: str
    reason: str
    status: str
    opened_at: datetime
    coach: str | None
    claimed_at: datetime | None
    resolved_at: datetime | None
    age_hours: float

    def as_json(self) -> dict[str, Any]:
        """JSON-ready, times in ISO 8601."""
        data = asdict(self)
        for name in ("opened_at", "claimed_at", "resolved_at"):
            data[name] = data[name].isoformat() if data[name] else None
        return data


async def case_rows(
    session: AsyncSession, *, now: datetime, status: str, person_id: int | None = None
) -> list[CaseRow]:
    """Cases with the given status (`open` counts claimed ones too; `all`), oldest first."""
    coach = Person.__table__.alias("coach")  # type: ignore[attr-defined]  # SQLModel does not declare __table__
    statement = (
        select(Escalation, Person.name, coach.c.name)
        .join(Person, col(Person.id) == Escalation.person_id)
        .outerjoin(coach, coach.c.id == Escalation.coach_id)
        .order_by(col(Escalation.opened_at), col(Escalation.id))
    )
    if status == "open":
        statement = statement.where(col(Escalation.status).in_(OPEN_STATUSES))
    elif status != "all":
        statement = statement.where(Escalation.status == status)
    if person_id is not None:
        statement = statement.where(Escalation.person_id == person_id)
    return [
        CaseRow(
            id=case_.id,
            learner=learner,
            reason=case_.reason,
            status=case_.status,
            opened_at=case_.opened_at,
            coach=coach_name,
            claimed_at=case_.claimed_at,
            resolved_at=case_.resolved_at,
            age_hours=hours_between(case_.opened_at, case_.resolved_at or now),
        )
        for case_, learner, coach_name in (await session.exec(statement)).all()
    ]


def answer_label(item: Item, answer: str) -> str:
    """What the learner picked, in words: choice ids become their texts."""
    if item.type == "true_false":
        return answer.capitalize()
    if item.type in ("single", "multiple") and answer:
        choices = item.data.get("choices", [])
        picked = [int(cid[1:]) for cid in answer.split(",") if cid[1:].isdigit()]
        return " + ".join(choices[i]["text"] for i in picked if i < len(choices))
    return answer


@dataclass(frozen=True, slots=True)
class AnswerLine:
    """One graded answer as a coach reads it: what was expected and what happened."""

    at: datetime
    item: str
    topic: str
    review: bool
    late: bool
    expected: float
    correct: bool
    answer: str


@dataclass(frozen=True, slots=True)
class CaseHistory:
    """A case of the learner with its events."""

    row: CaseRow
    note: str | None
    events: list[tuple[datetime, str, str | None]]


@dataclass(slots=True)
class LearnerDetail:
    """`learner show`: profile, schedule, progress, answers, reflections, cases."""

    person: Person
    team: Team | None
    summary: LearnerRow
    topics: list[tuple[str, int, int]]
    streak: int
    recent: list[AnswerLine]
    reflections: list[tuple[datetime, str, bool]]
    cases: list[CaseHistory] = field(default_factory=list)

    @property
    def schedule(self) -> str:
        """Send time, zone, working days and holiday calendar in one line."""
        team = self.team
        days = workdays_label(team.workdays) if team else "mon-fri"
        calendar = (calendar_label(team) if team else None) or "no holiday calendar"
        paused = f", paused until {self.person.paused_until}" if self.person.paused_until else ""
        return f"{self.person.send_time} {self.person.timezone}, {days}, {calendar}{paused}"


async def learner_detail(session: AsyncSession, *, person: Person, now: datetime) -> LearnerDetail:
    """Everything a coach needs to know about one learner."""
    team = await session.get(Team, person.team_id) if person.team_id else None
    (summary,) = await learner_rows(session, now=now, person_id=person.id)
    topics = [
        (topic, int(right), int(total))
        for topic, right, total in (
            await session.exec(
                select(Lesson.topic, _RIGHT, func.count(col(Response.id)))
                .join(Item, col(Item.id) == Response.item_id)
                .join(Lesson, col(Lesson.id) == Item.lesson_id)
                .where(Response.person_id == person.id)
                .group_by(col(Lesson.topic))
                .order_by(col(Lesson.topic))
            )
        ).all()
    ]
    recent = [
        AnswerLine(
            at=response.answered_at,
            item=item.key,
            topic=topic,
            review=response.review,
            late=response.late,
            expected=response.expected,
            correct=response.correct,
            answer=answer_label(item, response.answer),
        )
        for response, item, topic in (
            await session.exec(
                select(Response, Item, Lesson.topic)
                .join(Item, col(Item.id) == Response.item_id)
                .join(Lesson, col(Lesson.id) == Item.lesson_id)
                .where(Response.person_id == person.id)
                .order_by(col(Response.answered_at).desc(), col(Response.id).desc())
                .limit(RECENT_ANSWERS)
            )
        ).all()
    ]
    reflections = [
        (row.created_at, row.text, row.asks_for_help)
        for row in (
            await session.exec(
                select(Reflection)
                .where(Reflection.person_id == person.id)
                .order_by(col(Reflection.created_at).desc(), col(Reflection.id).desc())
                .limit(RECENT_REFLECTIONS)
            )
        ).all()
    ]
    cases = await case_rows(session, now=now, status="all", person_id=person.id)
    mine = {
        case_.id: case_
        for case_ in (
            await session.exec(select(Escalation).where(Escalation.person_id == person.id))
        ).all()
    }
    events = (
        await session.exec(
            select(EscalationEvent)
            .where(col(EscalationEvent.escalation_id).in_(list(mine)))
            .order_by(col(EscalationEvent.at), col(EscalationEvent.id))
        )
    ).all()
    histories = [
        CaseHistory(
            row=row,
            note=mine[row.id].resolution_note,
            events=[(e.at, e.kind, e.text) for e in events if e.escalation_id == row.id],
        )
        for row in cases
    ]
    return LearnerDetail(
        person=person,
        team=team,
        summary=summary,
        topics=topics,
        streak=await streak_days(session, person=person, now=now),
        recent=recent,
        reflections=reflections,
        cases=histories,
    )
