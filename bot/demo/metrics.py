"""The demo's numbers, read from the database, and the expectation they are checked against.

Definitions (also in the README):

* `deliveries_expected`: for each learner, their lesson days: the local dates
  that are Monday to Friday, not a public holiday of the team's calendar
  (asked of the `holidays` package here, not of the planner), whose local
  send time falls inside the simulated window, at most as many as the pack
  has lessons (after the last lesson a learner gets reviews only, and only
  when some are due).
* `deliveries_sent`: lesson deliveries with status sent.
* `missed_deliveries`: expected lesson days with no lesson sent for that
  learner's local date.
* `duplicate_deliveries`: every extra sent lesson on one learner's local date,
  every lesson sent to one learner more than once, every quiz or review item
  sent twice on one local date, plus every outbox row the console transport
  sent more than once.
* `unexpected_deliveries`: lessons sent on a date that is not a lesson day.
* `clock_changes`: every change of a learner timezone's UTC offset inside the
  simulated window (zone, local date, forward or back), asked of `zoneinfo`.
* `holidays`: the team calendar's public holidays that fell on a weekday a
  learner would otherwise have had a lesson (date and name).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time, timedelta
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.admin.read_models import share
from bot.demo.personas import DemoLearner
from bot.transports.console import ConsoleTransport
from storage.models import (
    PROMPT_KINDS,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Escalation,
    EscalationStatus,
    Person,
    Reflection,
    Response,
    Role,
)

SENT = DeliveryStatus.SENT


def _window_days(learner: DemoLearner, *, start: datetime, end: datetime) -> Iterator[date]:
    """The learner's local dates whose send time falls inside the simulated window."""
    zone = ZoneInfo(learner.timezone)
    send = time.fromisoformat(learner.send_time)
    day = start.astimezone(zone).date()
    while (instant := datetime.combine(day, send, tzinfo=zone)) <= end:
        if instant >= start:
            yield day
        day += timedelta(days=1)


def _public_holidays(calendar: tuple[str, str | None]) -> holidays.HolidayBase:
    """The team calendar's public holidays."""
    return holidays.country_holidays(calendar[0], subdiv=calendar[1])


def lesson_days(
    learner: DemoLearner,
    *,
    start: datetime,
    end: datetime,
    calendar: tuple[str, str | None],
    lessons: int,
) -> list[date]:
    """The local dates a learner should get a lesson on (see the module docstring)."""
    public = _public_holidays(calendar)
    days = [
        day
        for day in _window_days(learner, start=start, end=end)
        if day.weekday() < 5 and day not in public
    ]
    return days[:lessons]


def holidays_in_window(
    learners: Sequence[DemoLearner],
    *,
    start: datetime,
    end: datetime,
    calendar: tuple[str, str | None],
) -> list[dict[str, str]]:
    """Public holidays on a weekday some learner would otherwise have had a lesson, by date."""
    public = _public_holidays(calendar)
    found = {
        day: public.get(day)
        for learner in learners
        for day in _window_days(learner, start=start, end=end)
        if day.weekday() < 5 and day in public
    }
    return [{"date": day.isoformat(), "name": str(name)} for day, name in sorted(found.items())]


def clock_changes(zones: Iterable[str], *, start: datetime, end: datetime) -> list[dict[str, str]]:
    """Every UTC-offset change of `zones` between `start` and `end`, with its local date."""
    changes = []
    for name in sorted(set(zones)):
        zone = ZoneInfo(name)
        moment = start
        offset = start.astimezone(zone).utcoffset() or timedelta()
        while moment < end:
            moment = min(moment + timedelta(hours=1), end)
            local = moment.astimezone(zone)
            now_offset = local.utcoffset() or timedelta()
            if now_offset != offset:
                clocks = "forward" if now_offset > offset else "back"
                changes.append({"zone": name, "date": local.date().isoformat(), "clocks": clocks})
                offset = now_offset
    return sorted(changes, key=lambda change: (change["date"], change["zone"]))


def _extra(counts: Sequence[int]) -> int:
    """How many rows beyond the first in each group."""
    return sum(count - 1 for count in counts if count > 1)


_FIRST_SEND = col(Delivery.refers_to).is_(None)  # not a copy sent again by `today`


async def _grouped_extra(session: AsyncSession, *columns: Any, kinds: tuple[str, ...]) -> int:
    """Extra sent rows of `kinds` sharing `columns` (a copy the learner asked for is no extra)."""
    statement = (
        select(func.count(col(Delivery.id)))
        .where(col(Delivery.kind).in_(kinds), Delivery.status == SENT, _FIRST_SEND)
        .group_by(*columns)
    )
    return _extra(list((await session.exec(statement)).all()))


def console_repeats(transport: ConsoleTransport) -> int:
    """Outbox rows the console transport sent more than once."""
    counts = Counter(
        m.outbound.delivery_id
        for m in transport.sent
        if not m.edited and m.outbound.delivery_id is not None
    )
    return _extra(list(counts.values()))


async def integrity(
    session: AsyncSession,
    *,
    learners: Sequence[DemoLearner],
    start: datetime,
    end: datetime,
    calendar: tuple[str, str | None],
    lessons: int,
    transport: ConsoleTransport,
) -> dict[str, int]:
    """Expected, sent, missed, duplicate and unexpected lessons; learners who had them all."""
    ids = {
        f"console:{platform_id}": person_id
        for platform_id, person_id in (
            await session.exec(
                select(Person.platform_id, Person.id).where(Person.platform == "console")
            )
        ).all()
    }
    sent = {
        (person_id, day)
        for person_id, day in (
            await session.exec(
                select(Delivery.person_id, col(Delivery.local_date)).where(
                    Delivery.kind == DeliveryKind.LESSON, Delivery.status == SENT, _FIRST_SEND
                )
            )
        ).all()
    }
    days_of = {
        learner.address: lesson_days(
            learner, start=start, end=end, calendar=calendar, lessons=lessons
        )
        for learner in learners
    }
    expected = {(ids[address], day) for address, days in days_of.items() for day in days}
    duplicates = (
        await _grouped_extra(
            session, col(Delivery.person_id), col(Delivery.local_date), kinds=(DeliveryKind.LESSON,)
        )
        + await _grouped_extra(
            session, col(Delivery.person_id), col(Delivery.lesson_id), kinds=(DeliveryKind.LESSON,)
        )
        + await _grouped_extra(
            session,
            col(Delivery.person_id),
            col(Delivery.item_id),
            col(Delivery.local_date),
            kinds=PROMPT_KINDS,
        )
        + console_repeats(transport)
    )
    lessons_sent = (
        await session.exec(
            select(func.count(col(Delivery.id))).where(
                Delivery.kind == DeliveryKind.LESSON, Delivery.status == SENT, _FIRST_SEND
            )
        )
    ).one()
    return {
        "deliveries_expected": len(expected),
        "deliveries_sent": lessons_sent,
        "missed_deliveries": len(expected - sent),
        "duplicate_deliveries": duplicates,
        "unexpected_deliveries": len(sent - expected),
        "learners_finished_pack": sum(len(days) == lessons for days in days_of.values()),
    }


async def _count(session: AsyncSession, statement: Any) -> int:
    """The single number a count query returns."""
    return int((await session.exec(statement)).one())


async def learning(session: AsyncSession) -> dict[str, Any]:
    """Answers, accuracy, reviews, reflections, follow-ups, messages and nudges, cohort-wide."""
    right, answers = (
        await session.exec(
            select(
                func.coalesce(func.sum(case((col(Response.correct), 1), else_=0)), 0),
                func.count(col(Response.id)),
            )
        )
    ).one()
    sent_of = {
        kind: count
        for kind, count in (
            await session.exec(
                select(Delivery.kind, func.count(col(Delivery.id)))
                # An edit changes a message already counted; it is not a new one.
                .where(Delivery.status == SENT, Delivery.kind != DeliveryKind.EDIT)
                .group_by(col(Delivery.kind))
            )
        ).all()
    }
    return {
        "answers": answers,
        "accuracy": share(int(right), answers),
        "reviews_sent": sent_of.get(DeliveryKind.REVIEW, 0),
        "reviews_of_missed": await reviews_of_missed(session),
        "nudges_sent": sent_of.get(DeliveryKind.NUDGE, 0),
        "messages_sent": sum(sent_of.values()),
        "reflections": await _count(session, select(func.count(col(Reflection.id)))),
        "follow_ups_sent": sent_of.get(DeliveryKind.FOLLOW_UP, 0),
        "follow_ups_answered": await _count(
            session,
            select(func.count(col(Reflection.id)))
            .join(Delivery, col(Delivery.id) == Reflection.delivery_id)
            .where(Delivery.kind == DeliveryKind.FOLLOW_UP),
        ),
    }


async def reviews_of_missed(session: AsyncSession) -> int:
    """Reviews sent of a question the learner had got wrong the last time they answered it."""
    answers: dict[tuple[int, int | None], list[tuple[datetime, bool]]] = {}
    for person_id, item_id, at, correct in (
        await session.exec(
            select(Response.person_id, Response.item_id, Response.answered_at, Response.correct)
        )
    ).all():
        answers.setdefault((person_id, item_id), []).append((at, correct))
    reviews = (
        await session.exec(
            select(Delivery.person_id, Delivery.item_id, Delivery.sent_at).where(
                Delivery.kind == DeliveryKind.REVIEW, Delivery.status == SENT
            )
        )
    ).all()
    return sum(
        not max(earlier)[1]
        for person_id, item_id, sent_at in reviews
        if sent_at is not None
        and (earlier := [a for a in answers.get((person_id, item_id), []) if a[0] < sent_at])
    )


async def escalations(session: AsyncSession) -> dict[str, Any]:
    """Cases opened, claimed and resolved, their signals, and how fast they were claimed."""
    cases = list((await session.exec(select(Escalation).order_by(col(Escalation.id)))).all())
    waits = [
        (case.claimed_at - case.opened_at).total_seconds() / 3600
        for case in cases
        if case.claimed_at is not None
    ]
    return {
        "escalations_opened": len(cases),
        "escalations_claimed": len(waits),
        "escalations_resolved": sum(case.status == EscalationStatus.RESOLVED for case in cases),
        "escalation_reasons": dict(
            sorted(Counter(case.evidence.get("signal", "other") for case in cases).items())
        ),
        "median_hours_to_claim": round(median(waits), 1) if waits else None,
        "longest_hours_to_claim": round(max(waits), 1) if waits else None,
    }


async def by_persona(
    session: AsyncSession, learners: Sequence[DemoLearner]
) -> dict[str, dict[str, Any]]:
    """Per persona: learners, answers, accuracy, reviews sent, reflections, cases."""
    persona_of = {learner.name: learner.persona.key for learner in learners}
    people = dict(
        (
            await session.exec(select(Person.id, Person.name).where(Person.role == Role.LEARNER))
        ).all()
    )
    answers = (await session.exec(select(Response.person_id, Response.correct))).all()
    reviews = (
        await session.exec(
            select(Delivery.person_id).where(
                Delivery.kind == DeliveryKind.REVIEW, Delivery.status == SENT
            )
        )
    ).all()
    reflections = (await session.exec(select(Reflection.person_id))).all()
    cases = (await session.exec(select(Escalation.person_id))).all()
    table: dict[str, dict[str, Any]] = {}
    for learner in learners:
        row = table.setdefault(
            learner.persona.key,
            {"learners": 0, "answers": 0, "correct": 0, "reviews": 0, "reflections": 0, "cases": 0},
        )
        row["learners"] += 1
    for person_id, correct in answers:
        row = table[persona_of[people[person_id]]]
        row["answers"] += 1
        row["correct"] += int(correct)
    for column, rows in (("reviews", reviews), ("reflections", reflections), ("cases", cases)):
        for person_id in rows:
            table[persona_of[people[person_id]]][column] += 1
    for row in table.values():
        row["accuracy"] = share(row.pop("correct"), row["answers"])
    return table
