"""Coaching cases: open with evidence, notify coaches, claim, relay, resolve, SLA re-send.

At most one case per learner is open (open or claimed); the database's partial
unique index enforces it. A further signal while a case is open becomes an
event on that case. Coach-facing messages are `escalation` deliveries keyed
`escalation:<case>[:<step>]`; learner-facing ones are notices keyed
`notice:case:<case>:<step>`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.admin.progress import topic_names
from bot.clock import Clock
from bot.coaching.calendar import working_days_after
from bot.coaching.people import admins
from bot.coaching.policy import TeamPolicy, policy_for
from bot.coaching.struggle import evidence_since, scored_window
from bot.messages import Outbound, OutboundKind, Span, Spans, UserText, spans_markdown
from bot.outbox.daily import LIVE_STATUSES
from bot.outbox.payload import stored_message
from bot.outbox.queue import queue, queue_edit
from storage.db import SessionFactory
from storage.models import (
    Delivery,
    DeliveryKind,
    Escalation,
    EscalationEvent,
    EscalationStatus,
    Item,
    Lesson,
    Person,
    PersonStatus,
    Reflection,
    Response,
    Role,
    Team,
)

log = logging.getLogger(__name__)

OPEN_STATUSES = (EscalationStatus.OPEN, EscalationStatus.CLAIMED)
EVIDENCE_REFLECTIONS = 3
QUOTE_CHARS = 200
CARD_ANSWERS = 10
EVIDENCE_ANSWERS = 60  # the window's answers kept on the case, newest first
RELAY_CHARS = 2500  # a relayed message plus its heading stays within every platform's limit
ASKED = ("request", "help")  # the learner's own `coach` command, a reflection asking for help


def clip(text: str, limit: int = RELAY_CHARS) -> str:
    """`text` cut to `limit` characters, saying so when it was cut."""
    return text if len(text) <= limit else text[: limit - 12].rstrip() + " … (cut)"


class CaseError(ValueError):
    """A coach action that cannot be done (unknown case, not yours, already resolved)."""

    def __init__(self, *spans: Span) -> None:
        super().__init__(spans_markdown(spans))
        self.spans: Spans = spans


def _name(person: Person | None) -> Span:
    """A person's name as they typed it, for a message; `someone` when they are gone."""
    return UserText(person.name) if person is not None else "someone"


async def open_case_of(session: AsyncSession, person_id: int) -> Escalation | None:
    """The learner's open or claimed case, if any."""
    statement = select(Escalation).where(
        Escalation.person_id == person_id, col(Escalation.status).in_(OPEN_STATUSES)
    )
    return (await session.exec(statement)).first()


async def gather_evidence(
    session: AsyncSession, *, person: Person, policy: TeamPolicy, now: datetime
) -> dict[str, Any]:
    """The scored window's answers (expected vs actual), misses by topic, recent reflections."""
    window = await scored_window(session, person=person, policy=policy, now=now)
    answers = list(
        (
            await session.exec(
                select(Response)
                .where(Response.person_id == person.id, Response.answered_at >= window.since)
                .order_by(col(Response.answered_at).desc(), col(Response.id).desc())
                .limit(EVIDENCE_ANSWERS)
            )
        ).all()
    )
    score = (await evidence_since(session, person_id=person.id, since=window.since)).z
    items = {
        item.id: (item, lesson)
        for item, lesson in (
            await session.exec(
                select(Item, Lesson)
                .join(Lesson, col(Lesson.id) == Item.lesson_id)
                .where(col(Item.id).in_([answer.item_id for answer in answers]))
            )
        ).all()
    }
    recent: list[dict[str, Any]] = [
        {
            "item": items[answer.item_id][0].key,
            "topic": items[answer.item_id][1].topic,
            "review": answer.review,
            "late": answer.late,
            "expected": round(answer.expected, 2),
            "correct": answer.correct,
            "at": answer.answered_at.isoformat(),
        }
        for answer in answers
        if answer.item_id in items
    ]
    misses = Counter(entry["topic"] for entry in recent if not entry["correct"])
    names = await topic_names(session, {entry["topic"] for entry in recent})
    reflections = (
        await session.exec(
            select(Reflection)
            .where(Reflection.person_id == person.id)
            .order_by(col(Reflection.created_at).desc(), col(Reflection.id).desc())
            .limit(EVIDENCE_REFLECTIONS)
        )
    ).all()
    return {
        "score": round(score, 2),
        "answers": recent,
        "misses_by_topic": dict(misses.most_common()),
        "topic_names": names,
        "reflections": [
            {"text": r.text[:QUOTE_CHARS], "at": r.created_at.isoformat()} for r in reflections
        ],
    }


def case_card(case: Escalation, learner: Person, *, heading: str = "") -> Outbound:
    """The coach-facing summary of a case: who, why, and the evidence (reflections as typed)."""
    evidence = case.evidence
    names: dict[str, str] = evidence.get("topic_names", {})
    sections: list[Spans] = [(heading,)] if heading else []
    sections.append((f"Reason: {case.reason}",))
    if evidence.get("answers"):
        lines = [f"Struggle z-score: {evidence['score']:+.1f}. Recent answers (expected → got):"]
        lines += [
            f"• {a['item']} ({names.get(a['topic'], a['topic'])}"
            f"{', review' if a['review'] else ''}): "
            f"{a['expected']:.2f} → {'✅' if a['correct'] else '❌'}"
            for a in evidence["answers"][:CARD_ANSWERS]
        ]
        sections.append(("\n".join(lines),))
    if evidence.get("misses_by_topic"):
        misses = ", ".join(
            f"{names.get(topic, topic)} {n}" for topic, n in evidence["misses_by_topic"].items()
        )
        sections.append((f"Misses by topic: {misses}",))
    sections += [("> ", UserText(r["text"])) for r in evidence.get("reflections", [])]
    return Outbound(
        kind=OutboundKind.ESCALATION,
        icon="🆘",
        title=(f"Case #{case.id}: ", UserText(learner.name)),
        sections=tuple(sections),
        context=(f"Claim it with the button or `claim {case.id}`.",),
    )


def _card_choices(case: Escalation) -> list[tuple[str, str]]:
    """The buttons under a case card."""
    return [(f"claim:{case.id}", "Claim"), (f"resolve:{case.id}", "Resolve")]


def _queue_card(
    session: AsyncSession, case: Escalation, *, to: Person, card: Outbound, key: str, now: datetime
) -> None:
    """Queue a case card, with its Claim and Resolve buttons, for one coach or admin."""
    queue(
        session,
        person_id=to.id,
        key=key,
        kind=DeliveryKind.ESCALATION,
        text=card,
        now=now,
        choices=_card_choices(case),
        escalation_id=case.id,
    )


async def _mark_cards_claimed(
    session: AsyncSession, case: Escalation, *, coach: Person, now: datetime
) -> None:
    """Edit the case's card for everyone who got it: claimed by whom (in place of how to claim).

    The Claim button goes; the card's header and sections stay as they were. A
    long card came in parts: the part with the buttons (the last) is the one edited.
    """
    note: Spans = ("🙋 *Claimed by ", UserText(coach.name), "*")
    await _edit_cards(session, case, note=note, keep=("resolve:",), why="claimed", now=now)


async def _edit_cards(
    session: AsyncSession,
    case: Escalation,
    *,
    note: Spans,
    keep: tuple[str, ...],
    why: str,
    now: datetime,
) -> None:
    """Edit the part with buttons of every card of the case: `note` as its small print, only
    the buttons whose ids start with one of `keep`."""
    rows = (
        await session.exec(
            select(Delivery).where(
                Delivery.escalation_id == case.id,
                Delivery.kind == DeliveryKind.ESCALATION,
                col(Delivery.status).in_(LIVE_STATUSES),
            )
        )
    ).all()
    for card in rows:
        shown = stored_message(card)
        if not shown.choices:
            continue  # a relayed message or a part without buttons, not the card's last part
        kept = tuple(c for c in shown.choices if c.choice_id.startswith(keep))
        edited = replace(shown, text="", context=note, choices=kept)
        queue_edit(session, card, edited, why=why, now=now)


async def coaches_for(
    session: AsyncSession, learner: Person, admin_addresses: Sequence[str] = ()
) -> list[Person]:
    """The learner's team coaches; the admins when the team has none."""
    coaches: list[Person] = []
    if learner.team_id is not None:
        statement = select(Person).where(
            Person.team_id == learner.team_id,
            Person.role == Role.COACH,
            Person.status == PersonStatus.ACTIVE,
        )
        coaches = list((await session.exec(statement)).all())
    return coaches or await admins(session, admin_addresses)


async def _add_event(
    session: AsyncSession,
    case: Escalation,
    kind: str,
    *,
    now: datetime,
    actor: Person | None = None,
    text: str | None = None,
) -> None:
    """Record one step of a case's history."""
    session.add(
        EscalationEvent(
            escalation_id=case.id,
            kind=kind,
            actor_id=actor.id if actor else None,
            text=text,
            at=now,
        )
    )


async def open_case(
    session: AsyncSession,
    *,
    person: Person,
    signal: str,
    reason: str,
    now: datetime,
    admin_addresses: Sequence[str] = (),
) -> tuple[Escalation, bool]:
    """Open a case for `person` and notify coaches; (case, True) when it is new.

    With a case already open, a signal not seen on it before becomes a
    `signal:<name>` event on that case instead, and (case, False) is returned.
    """
    existing = await open_case_of(session, person.id)
    if existing is not None:
        kind = f"signal:{signal}"
        seen = await session.exec(
            select(EscalationEvent.id).where(
                EscalationEvent.escalation_id == existing.id, EscalationEvent.kind == kind
            )
        )
        if existing.evidence.get("signal") != signal and seen.first() is None:
            await _add_event(session, existing, kind, now=now, text=reason)
        return existing, False
    team = await session.get(Team, person.team_id) if person.team_id is not None else None
    policy = policy_for(team)
    evidence = await gather_evidence(session, person=person, policy=policy, now=now)
    evidence["signal"] = signal
    sla_day = working_days_after(team, now.date(), policy.sla_working_days)
    case = Escalation(
        person_id=person.id,
        reason=reason,
        evidence=evidence,
        opened_at=now,
        sla_due_at=now + timedelta(days=(sla_day - now.date()).days),
    )
    session.add(case)
    await session.flush()
    await _add_event(session, case, "opened", now=now, text=reason)
    card = case_card(case, person)
    for coach in await coaches_for(session, person, admin_addresses):
        _queue_card(session, case, to=coach, card=card, key=f"escalation:{case.id}", now=now)
    log.info("opened case %s for person %s: %s", case.id, person.id, reason)
    return case, True


async def case_for_action(session: AsyncSession, case_id: int) -> tuple[Escalation, Person]:
    """The case and its learner; CaseError when there is no such case."""
    case = await session.get(Escalation, case_id)
    learner = await session.get(Person, case.person_id) if case else None
    if case is None or learner is None:
        raise CaseError(f"There is no case #{case_id}.")
    return case, learner


def _tell_learner(
    session: AsyncSession, case: Escalation, step: str, text: str | Spans, now: datetime
) -> None:
    """Queue a notice about the case to its learner."""
    queue(
        session,
        person_id=case.person_id,
        key=f"notice:case:{case.id}:{step}",
        kind=DeliveryKind.NOTICE,
        text=text,
        now=now,
        escalation_id=case.id,
    )


async def learner_asked(session: AsyncSession, case: Escalation) -> bool:
    """Whether the learner asked for a coach on this case, rather than a signal opening it."""
    if case.evidence.get("signal") in ASKED:
        return True
    statement = select(EscalationEvent.id).where(
        EscalationEvent.escalation_id == case.id,
        col(EscalationEvent.kind).in_([f"signal:{signal}" for signal in ASKED]),
    )
    return (await session.exec(statement.limit(1))).first() is not None


async def _learner_knows(session: AsyncSession, case: Escalation) -> bool:
    """Whether the learner has heard of the case: they asked, or a coach wrote to them."""
    if await learner_asked(session, case):
        return True
    statement = select(EscalationEvent.id).where(
        EscalationEvent.escalation_id == case.id, EscalationEvent.kind == "coach_message"
    )
    return (await session.exec(statement.limit(1))).first() is not None


def _ensure_coach(actor: Person) -> None:
    """Only coaches and admins act on cases."""
    if actor.role not in (Role.COACH, Role.ADMIN):
        raise CaseError("Only coaches can do that.")


async def claim_case(
    session: AsyncSession, *, case_id: int, coach: Person, now: datetime
) -> str | Spans:
    """Claim an open case; returns the coach's reply.

    A learner who asked for a coach is told one picked it up; a learner a
    signal escalated (struggle score, silence) hears of the case only when the
    coach writes to them.
    """
    _ensure_coach(coach)
    case, learner = await case_for_action(session, case_id)
    if case.status == EscalationStatus.RESOLVED:
        raise CaseError(f"Case #{case.id} is already resolved.")
    if case.status == EscalationStatus.CLAIMED:
        if case.coach_id == coach.id:
            return f"Case #{case.id} is already yours."
        holder = await session.get(Person, case.coach_id) if case.coach_id else None
        raise CaseError(f"Case #{case.id} was claimed by ", _name(holder), ".")
    case.status, case.coach_id, case.claimed_at = EscalationStatus.CLAIMED, coach.id, now
    session.add(case)
    await _add_event(session, case, "claimed", now=now, actor=coach)
    await _mark_cards_claimed(session, case, coach=coach, now=now)
    if await learner_asked(session, case):
        _tell_learner(
            session,
            case,
            "claimed",
            (
                "🤝 A coach (",
                UserText(coach.name),
                ") picked up your request and will write to you here. Just reply to talk to them.",
            ),
            now,
        )
    return (
        f"Case #{case.id} (",
        UserText(learner.name),
        f") is yours. Write to them with `msg {case.id} <text>` "
        f"and close it with `resolve {case.id} <note>`.",
    )


async def message_learner(
    session: AsyncSession, *, case_id: int, coach: Person, text: str, now: datetime, step: str
) -> Spans:
    """Relay a coach's message to the learner of a case they claimed (as they typed it)."""
    _ensure_coach(coach)
    case, learner = await case_for_action(session, case_id)
    if case.status != EscalationStatus.CLAIMED or case.coach_id != coach.id:
        raise CaseError(f"Claim case #{case.id} first (`claim {case.id}`).")
    if not text.strip():
        raise CaseError(f"Write the message after the case number: `msg {case.id} <text>`.")
    first_word = not await _learner_knows(session, case)
    await _add_event(session, case, "coach_message", now=now, actor=coach, text=text)
    body: Spans = ("💬 *", UserText(coach.name), " (coach):* ", UserText(clip(text)))
    if first_word:
        body += (
            "\n_",
            UserText(coach.name),
            " is one of your coaches: just reply here to talk to them._",
        )
    _tell_learner(session, case, f"msg:{step}", body, now)
    return ("Sent to ", UserText(learner.name), ".")


async def message_coach(
    session: AsyncSession, *, case: Escalation, learner: Person, text: str, now: datetime, step: str
) -> None:
    """Relay a learner's message to the coach who claimed their case."""
    await _add_event(session, case, "learner_message", now=now, actor=learner, text=text)
    assert case.coach_id is not None, "only a claimed case has a coach to relay to"
    queue(
        session,
        person_id=case.coach_id,
        key=f"escalation:{case.id}:msg:{step}",
        kind=DeliveryKind.ESCALATION,
        text=(
            "💬 *",
            UserText(learner.name),
            f" (case #{case.id}):* ",
            UserText(clip(text)),
            f"\nReply with `msg {case.id} <text>`.",
        ),
        now=now,
        escalation_id=case.id,
    )


async def resolve_case(
    session: AsyncSession, *, case_id: int, coach: Person, note: str, now: datetime
) -> Spans:
    """Resolve a case with a note; returns the coach's reply.

    The learner is told only when they knew of the case (they asked, or the coach wrote).
    """
    _ensure_coach(coach)
    case, learner = await case_for_action(session, case_id)
    if case.status == EscalationStatus.RESOLVED:
        raise CaseError(f"Case #{case.id} is already resolved.")
    held_by_other = case.status == EscalationStatus.CLAIMED and case.coach_id != coach.id
    if held_by_other and coach.role != Role.ADMIN:
        raise CaseError(f"Case #{case.id} belongs to another coach.")
    known = await _learner_knows(session, case)
    case.status, case.resolved_at = EscalationStatus.RESOLVED, now
    case.resolution_note = note.strip() or None
    case.coach_id = case.coach_id or coach.id
    session.add(case)
    await _add_event(session, case, "resolved", now=now, actor=coach, text=case.resolution_note)
    resolved: Spans = ("✅ *Resolved by ", UserText(coach.name), "*")
    await _edit_cards(session, case, note=resolved, keep=(), why="resolved", now=now)
    if known:
        _tell_learner(
            session,
            case,
            "resolved",
            "✅ Your coach has closed your case. Send `coach` any time you want to talk again.",
            now,
        )
    return (f"Case #{case.id} (", UserText(learner.name), ") is resolved.")


async def visible_cases(session: AsyncSession, *, coach: Person) -> list[tuple[Escalation, Person]]:
    """The open cases a coach can act on: their team's and any they hold (admins: all)."""
    statement = (
        select(Escalation, Person)
        .join(Person, col(Person.id) == Escalation.person_id)
        .where(col(Escalation.status).in_(OPEN_STATUSES))
        .order_by(col(Escalation.opened_at))
    )
    return [
        (case, learner)
        for case, learner in (await session.exec(statement)).all()
        if coach.role == Role.ADMIN
        or case.coach_id == coach.id
        or (coach.team_id is not None and learner.team_id == coach.team_id)
    ]


def cases_lines(rows: list[tuple[Escalation, Person]]) -> Spans:
    """One line per case: number, learner (as typed), reason, status."""
    lines: list[Spans] = [
        (f"#{case.id} ", UserText(learner.name), f": {case.reason} ({case.status})")
        for case, learner in rows
    ]
    return tuple(
        span for number, line in enumerate(lines) for span in (("\n",) if number else ()) + line
    )


async def cases_text(session: AsyncSession, *, coach: Person) -> Spans:
    """The `cases` command's answer."""
    rows = await visible_cases(session, coach=coach)
    return cases_lines(rows) if rows else ("No open cases.",)


async def sla_tick(
    *, sessions: SessionFactory, clock: Clock, admin_addresses: Sequence[str] = ()
) -> int:
    """Re-send cases still unclaimed past their SLA to the admins, once; returns how many."""
    now = clock.now()
    async with sessions.begin() as session:
        statement = select(Escalation).where(
            Escalation.status == EscalationStatus.OPEN,
            col(Escalation.resent_to_admins_at).is_(None),
            col(Escalation.sla_due_at) <= now,
        )
        cases = (await session.exec(statement)).all()
        recipients = await admins(session, admin_addresses) if cases else []
        if cases and not recipients:
            log.warning("%d cases are past their SLA but no admin is configured", len(cases))
        for case in cases:
            learner = await session.get_one(Person, case.person_id)
            card = case_card(case, learner, heading="⏰ *Unclaimed past its SLA*")
            for admin in recipients:
                key = f"escalation:{case.id}:sla"
                _queue_card(session, case, to=admin, card=card, key=key, now=now)
            case.resent_to_admins_at = now
            session.add(case)
            await _add_event(session, case, "resent_to_admins", now=now)
        return len(cases)
