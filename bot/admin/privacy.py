"""A learner's data: export all of it as JSON, or forget everything personal.

Forgetting keeps only anonymous aggregates: graded answers keep right/wrong,
expectation and time (the answer text is blanked), review cards and
enrolments stay under the anonymised person row. Everything that could name
or quote the learner goes: identity fields, reflections, message texts in
the outbox (theirs and the coach cards about them), case evidence, notes,
relayed messages, and events they sent that are still stored unhandled (the
inbox keeps an event whose handling failed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.admin.progress import lessons_done
from bot.coaching.pauses import cancel_pending
from storage.models import (
    Delivery,
    DeliveryStatus,
    Enrolment,
    Escalation,
    EscalationEvent,
    EscalationStatus,
    InboxEntry,
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

PERSON_FIELDS = (
    "id",
    "name",
    "email",
    "role",
    "platform",
    "platform_id",
    "timezone",
    "send_time",
    "language",
    "status",
    "paused_until",
    "created_at",
)


def _plain(value: Any) -> Any:
    """JSON-friendly form of a column value."""
    return value.isoformat() if hasattr(value, "isoformat") else value


def _row(row: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """Selected fields of a row, JSON-friendly."""
    return {name: _plain(getattr(row, name)) for name in fields}


async def _rows(session: AsyncSession, model: Any, *where: Any) -> list[Any]:
    """Rows of `model` matching `where`, in id order."""
    return list((await session.exec(select(model).where(*where).order_by(model.id))).all())


async def export_person(session: AsyncSession, person: Person) -> dict[str, Any]:
    """Everything stored about one person, as a JSON-ready dict."""
    team = await session.get(Team, person.team_id) if person.team_id else None
    answers = await _rows(session, Response, Response.person_id == person.id)
    states = await _rows(session, ReviewState, ReviewState.person_id == person.id)
    reflections = await _rows(session, Reflection, Reflection.person_id == person.id)
    cases = await _rows(session, Escalation, Escalation.person_id == person.id)
    events = await _rows(
        session, EscalationEvent, col(EscalationEvent.escalation_id).in_([c.id for c in cases])
    )
    item_ids = {row.item_id for row in [*answers, *states]}
    items = dict(
        (await session.exec(select(Item.id, Item.key).where(col(Item.id).in_(item_ids)))).all()
    )
    lesson_ids = {r.lesson_id for r in reflections}
    prompt_ids = {r.delivery_id for r in reflections}
    prompts = dict(
        (
            await session.exec(
                select(Delivery.id, Delivery.kind).where(col(Delivery.id).in_(prompt_ids))
            )
        ).all()
    )
    lessons = dict(
        (
            await session.exec(select(Lesson.id, Lesson.key).where(col(Lesson.id).in_(lesson_ids)))
        ).all()
    )
    done = await lessons_done(session, person_id=person.id)
    case_fields = (
        "id",
        "status",
        "reason",
        "evidence",
        "opened_at",
        "claimed_at",
        "resolved_at",
        "resolution_note",
    )
    return {
        "person": {**_row(person, PERSON_FIELDS), "team": team.name if team else None},
        "enrolments": [
            {
                **_row(e, ("pack_id", "active", "started_at", "finished_at")),
                "lessons_done": done.get((person.id, e.pack_id), 0),
            }
            for e in await _rows(session, Enrolment, Enrolment.person_id == person.id)
        ],
        "answers": [
            {
                "item": items.get(r.item_id),
                **_row(r, ("answer", "correct", "late", "review", "expected", "answered_at")),
            }
            for r in answers
        ],
        "reflections": [
            {
                "lesson": lessons.get(r.lesson_id),
                "answering": prompts.get(r.delivery_id),  # "reflection" or "follow_up"
                **_row(r, ("text", "asks_for_help", "created_at")),
            }
            for r in reflections
        ],
        "review_states": [
            {"item": items.get(s.item_id), **_row(s, ("due", "last_review", "reviews", "lapses"))}
            for s in states
        ],
        "cases": [
            {
                **_row(case, case_fields),
                "events": [
                    _row(event, ("kind", "text", "at"))
                    for event in events
                    if event.escalation_id == case.id
                ],
            }
            for case in cases
        ],
        "messages": [
            {
                **_row(d, ("delivery_key", "kind", "local_date", "status", "sent_at")),
                "text": d.payload.get("text"),
            }
            for d in await _rows(session, Delivery, Delivery.person_id == person.id)
        ],
    }


async def _scrub_staff_messages(session: AsyncSession, name: str) -> None:
    """Blank coach and admin messages that name the learner (case lists, digests)."""
    statement = (
        select(Delivery)
        .join(Person, col(Person.id) == Delivery.person_id)
        .where(col(Person.role).in_((Role.COACH, Role.ADMIN)))
        .execution_options(populate_existing=True)
    )
    for delivery in (await session.exec(statement)).all():
        if name in delivery.payload.get("text", ""):
            delivery.payload = {}
            if delivery.status == DeliveryStatus.PENDING:
                delivery.status = DeliveryStatus.CANCELLED
            session.add(delivery)


async def _discard_stored_events(session: AsyncSession, person: Person) -> None:
    """Delete the events `person` sent that the inbox still holds (waiting or failed)."""
    if person.platform_id is None:
        return
    waiting = select(InboxEntry.id, InboxEntry.event).where(col(InboxEntry.handled_at).is_(None))
    entries = (await session.exec(waiting)).all()
    mine = [entry_id for entry_id, event in entries if event.get("address") == person.address]
    if mine:
        await session.exec(delete(InboxEntry).where(col(InboxEntry.id).in_(mine)))


async def forget_person(session: AsyncSession, person: Person, now: datetime) -> None:
    """Erase everything personal about `person`, keeping anonymous aggregates."""
    case_ids = list(
        (await session.exec(select(Escalation.id).where(Escalation.person_id == person.id))).all()
    )
    await cancel_pending(session, person_id=person.id, kinds=None, reason="learner data erased")
    await session.exec(delete(Reflection).where(col(Reflection.person_id) == person.id))
    await session.exec(
        update(Response).where(col(Response.person_id) == person.id).values(answer="")
    )
    about_person = (col(Delivery.person_id) == person.id) | col(Delivery.escalation_id).in_(
        case_ids
    )
    await session.exec(
        update(Delivery)
        .where(about_person)
        .values(payload={}, reason=None, platform_ref=None, sent_ref=None)
        .execution_options(synchronize_session=False)
    )
    await session.exec(
        update(Delivery)
        .where(
            col(Delivery.escalation_id).in_(case_ids),
            col(Delivery.status) == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    await session.exec(
        update(EscalationEvent)
        .where(col(EscalationEvent.escalation_id).in_(case_ids))
        .values(text=None)
    )
    await _scrub_staff_messages(session, person.name)
    await _discard_stored_events(session, person)
    for case in (
        await session.exec(select(Escalation).where(col(Escalation.id).in_(case_ids)))
    ).all():
        case.evidence = {}
        case.resolution_note = None
        if case.status != EscalationStatus.RESOLVED:
            case.status, case.resolved_at = EscalationStatus.RESOLVED, now
        session.add(case)
    person.name = f"forgotten-{person.id}"
    person.email = person.platform_id = person.dm_channel = person.invite_code = None
    person.status = PersonStatus.FORGOTTEN
    person.paused_until = person.paused_at = None
    session.add(person)
    await session.flush()
