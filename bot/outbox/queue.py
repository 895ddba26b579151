"""The only writer of outbox rows: every message anyone sends is queued here.

Nothing sends a message itself; code queues `Delivery` rows that the dispatcher
sends on its next tick. Each row stores its message (`payload.py`). A sent row
is never rewritten: sending it again (`resend`) or changing it on the platform
(`queue_edit`) queues a new row that refers to it. `queue` remembers the rows it
added in `session.info`, so the caller can wake the dispatcher after commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.messages import Choice, Outbound, OutboundKind, Spans, pages, spans_length
from bot.outbox.payload import OUTBOUND_KIND, PromptState, payload_for
from content.limits import MESSAGE_CHARS
from storage.db import insert_unless_taken, run_core
from storage.models import DAY_KINDS, Delivery, DeliveryKind, DeliveryStatus

_QUEUED = "coaching_queued"
_OUTBOX = Delivery.__table__  # type: ignore[attr-defined]  # SQLModel does not declare __table__
_INSERT = insert(_OUTBOX)

# Claim order: what answers a learner or a coach (feedback, replies, coach cards, edits,
# a lesson asked for again) goes before the day's fan-out of lessons, prompts and nudges.
ANSWERING = 0
FAN_OUT = 1

Body = str | Spans | Outbound
"""What to say: Markdown, one line with user text in it, or a message in parts."""


@dataclass(frozen=True, slots=True)
class Planned:
    """One row of a learner's day, rendered from pack content when it is sent."""

    person_id: int
    key: str
    kind: DeliveryKind
    local_date: date
    due_at: datetime
    lesson_id: int | None = None
    item_id: int | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """A message to one person, queued once per `(person, key)`."""

    person_id: int
    key: str
    kind: DeliveryKind
    text: Body
    local_date: date | None = None


def as_message(text: Body) -> Outbound:
    """A body as a message (its kind is the row's, not this one's)."""
    if isinstance(text, Outbound):
        return text
    if isinstance(text, str):
        return Outbound(OutboundKind.NOTICE, text)
    return Outbound(OutboundKind.NOTICE, sections=(text,))


def text_message(
    kind: DeliveryKind, text: Body, choices: Sequence[tuple[str, str]] = ()
) -> Outbound:
    """The message of a row of `kind` saying `text`, with buttons as `(choice_id, label)` pairs."""
    message = as_message(text)
    buttons = tuple(Choice(choice_id, label) for choice_id, label in choices)
    return replace(message, kind=OUTBOUND_KIND[kind], choices=buttons or message.choices)


def paged(
    key: str, kind: DeliveryKind, text: Body, choices: Sequence[tuple[str, str]] = ()
) -> list[tuple[str, Outbound]]:
    """(key, message) of each message a long body becomes: `key`, then `key:2`, `key:3` …

    Buttons go with the last part, so they come after everything they are about.
    """
    if isinstance(text, str) and not choices and spans_length((text,)) <= MESSAGE_CHARS:
        return [(key, Outbound(OUTBOUND_KIND[kind], text))]  # one part: what `pages` gives
    parts = pages(text_message(kind, text, choices))
    return [
        (key if number == 1 else f"{key}:{number}", part)
        for number, part in enumerate(parts, start=1)
    ]


def _values(
    *,
    person_id: int,
    key: str,
    kind: DeliveryKind,
    message: Outbound | PromptState,
    now: datetime,
    due_at: datetime | None = None,
    payload: dict[str, Any] | None = None,
    **links: Any,
) -> dict[str, Any]:
    """The column values of one new pending row (`payload`: the message's, when built already)."""
    fan_out = kind in DAY_KINDS and links.get("refers_to") is None
    return {
        "person_id": person_id,
        "delivery_key": key,
        "kind": kind,
        "status": DeliveryStatus.PENDING,
        "priority": FAN_OUT if fan_out else ANSWERING,
        "attempts": 0,
        "due_at": due_at or now,
        "created_at": now,
        "payload": payload_for(kind, message) if payload is None else payload,
        "local_date": None,
        "lesson_id": None,
        "item_id": None,
        "escalation_id": None,
        "refers_to": None,
        **links,
    }


def message_rows(
    *,
    person_id: int,
    key: str,
    kind: DeliveryKind,
    text: Body,
    now: datetime,
    choices: Sequence[tuple[str, str]] = (),
    escalation_id: int | None = None,
    local_date: date | None = None,
) -> list[dict[str, Any]]:
    """The column values of the rows a message due now becomes (several if it is long)."""
    return [
        _values(
            person_id=person_id,
            key=part_key,
            kind=kind,
            message=part,
            now=now,
            escalation_id=escalation_id,
            local_date=local_date,
        )
        for part_key, part in paged(key, kind, text, choices)
    ]


def queue(
    session: AsyncSession,
    *,
    person_id: int,
    key: str,
    kind: DeliveryKind,
    text: Body,
    now: datetime,
    choices: Sequence[tuple[str, str]] = (),
    escalation_id: int | None = None,
    local_date: date | None = None,
) -> Delivery:
    """Add a message due now for one person (several if it is long); the key must be new."""
    rows = message_rows(
        person_id=person_id,
        key=key,
        kind=kind,
        text=text,
        now=now,
        choices=choices,
        escalation_id=escalation_id,
        local_date=local_date,
    )
    deliveries = [_add(session, row) for row in rows]
    return deliveries[0]


def _add(session: AsyncSession, row: dict[str, Any]) -> Delivery:
    """Add one new row with these `_values` to the session."""
    delivery = Delivery(**row)
    session.add(delivery)
    note_queued(session, 1)
    return delivery


def note_queued(session: AsyncSession, added: int) -> None:
    """Remember that rows were added in this session (or will be, by `insert_rows`)."""
    session.info[_QUEUED] = session.info.get(_QUEUED, 0) + added


async def insert_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert new rows of `_values` in one statement (a taken key is an IntegrityError).

    A Core insert: one executemany, without the ORM's per-row bookkeeping. The
    caller counts the rows with `note_queued`.
    """
    if rows:
        await run_core(session, _INSERT, rows)


async def _insert_missing(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> set[tuple[int, str]]:
    """Insert the rows whose `(person, key)` is free, in one statement; the `(person, key)` added.

    Used by tick jobs that may run in several processes at once: the unique key
    decides, without an error that would spoil the transaction.
    """
    if not rows:
        return set()
    statement = insert_unless_taken(
        session,
        Delivery,
        unique=("person_id", "delivery_key"),
        returning=(col(Delivery.person_id), col(Delivery.delivery_key)),
    )
    added = {
        (person_id, key) for person_id, key in (await session.exec(statement, params=rows)).all()
    }
    note_queued(session, len(added))
    return added


async def queue_once(
    session: AsyncSession,
    *,
    person_id: int,
    key: str,
    kind: DeliveryKind,
    text: Body,
    now: datetime,
    local_date: date | None = None,
) -> bool:
    """Queue a message due now unless the person already has a row keyed `key`; True if new."""
    message = Message(person_id=person_id, key=key, kind=kind, text=text, local_date=local_date)
    return await queue_missing(session, [message], now=now) == 1


async def queue_missing(
    session: AsyncSession, messages: Sequence[Message], *, now: datetime
) -> int:
    """Queue each message, due now, unless its person has a row with its key; how many were.

    A long message goes in parts keyed `key`, `key:2` …; the first part decides
    whether the rest are queued, and the message counts once.
    """
    parts = [
        [
            _values(
                person_id=message.person_id,
                key=part_key,
                kind=message.kind,
                message=part,
                now=now,
                local_date=message.local_date,
            )
            for part_key, part in paged(message.key, message.kind, message.text)
        ]
        for message in messages
    ]
    added = await _insert_missing(session, [rows[0] for rows in parts])
    rest = [
        row
        for rows in parts
        if (rows[0]["person_id"], rows[0]["delivery_key"]) in added
        for row in rows[1:]
    ]
    await _insert_missing(session, rest)
    return len(added)


async def queue_planned(session: AsyncSession, planned: Sequence[Planned], *, now: datetime) -> int:
    """Insert a learner's day in one statement (a taken key is an IntegrityError); how many."""
    fresh = PromptState()
    payloads = {kind: payload_for(kind, fresh) for kind in {row.kind for row in planned}}
    rows = [
        _values(
            person_id=row.person_id,
            key=row.key,
            kind=row.kind,
            message=fresh,
            now=now,
            due_at=row.due_at,
            local_date=row.local_date,
            lesson_id=row.lesson_id,
            item_id=row.item_id,
            payload=payloads[row.kind],  # the same for every new row of a kind: built once
        )
        for row in planned
    ]
    await insert_rows(session, rows)
    note_queued(session, len(rows))
    return len(rows)


async def _copies(session: AsyncSession, first: Delivery) -> int:
    """How many rows already refer to `first`."""
    statement = select(func.count(col(Delivery.id))).where(Delivery.refers_to == first.id)
    return (await session.exec(statement)).one()


async def resend(session: AsyncSession, first: Delivery, *, now: datetime) -> Delivery:
    """Queue a new copy of a sent row, due now, keyed `<its key>:again:<n>`, referring to it.

    A copy renders from the pack like the first; its buttons and replies answer the first.
    """
    row = _values(
        person_id=first.person_id,
        key=f"{first.delivery_key}:again:{await _copies(session, first) + 1}",
        kind=DeliveryKind(first.kind),
        message=PromptState(),
        now=now,
        local_date=first.local_date,
        lesson_id=first.lesson_id,
        item_id=first.item_id,
        refers_to=first.id,
    )
    return _add(session, row)


def edit_row(target: Delivery, outbound: Outbound, *, why: str, now: datetime) -> dict[str, Any]:
    """The column values of a change of a sent message: `outbound` replaces it, keyed by `why`."""
    return _values(
        person_id=target.person_id,
        key=f"edit:{target.id}:{why}",
        kind=DeliveryKind.EDIT,
        message=outbound,
        now=now,
        escalation_id=target.escalation_id,
        refers_to=target.id,
    )


def queue_edit(
    session: AsyncSession, target: Delivery, outbound: Outbound, *, why: str, now: datetime
) -> Delivery:
    """Queue a change of a sent message: `outbound` replaces it where it lives, keyed by `why`."""
    return _add(session, edit_row(target, outbound, why=why, now=now))


def queued_count(session: AsyncSession) -> int:
    """How many delivery rows were added in this session."""
    return int(session.info.get(_QUEUED, 0))
