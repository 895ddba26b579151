"""Queueing outbox rows from coaching code: replies now, tick rows once per key.

Coaching code never sends anything itself; it writes `Delivery` rows that the
dispatcher sends on its next tick. `queue` remembers the rows it added in
`session.info`, so the caller can wake the dispatcher after commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.messages import Outbound, OutboundKind, Spans, pages, parts_payload
from storage.db import insert_unless_taken
from storage.models import Delivery, DeliveryStatus

_QUEUED = "coaching_queued"


Body = str | Spans | Outbound
"""What to say: Markdown, one line with user text in it, or a message in parts."""


def message_payload(text: Body, choices: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """The payload of a message (text and parts), with buttons as `[choice_id, label]` pairs."""
    payload = parts_payload(as_message(text))
    if choices:
        payload["choices"] = [[choice_id, label] for choice_id, label in choices]
    return payload


def as_message(text: Body) -> Outbound:
    """A body as a message (its kind is the row's, not this one's)."""
    if isinstance(text, Outbound):
        return text
    if isinstance(text, str):
        return Outbound(OutboundKind.NOTICE, text)
    return Outbound(OutboundKind.NOTICE, sections=(text,))


def paged_payloads(
    key: str, text: Body, choices: Sequence[tuple[str, str]] = ()
) -> list[tuple[str, dict[str, Any]]]:
    """(key, payload) of each message a long body becomes: `key`, then `key:2`, `key:3` …

    Buttons go with the last part, so they come after everything they are about.
    """
    parts = pages(as_message(text))
    return [
        (
            key if number == 1 else f"{key}:{number}",
            message_payload(part, choices if number == len(parts) else ()),
        )
        for number, part in enumerate(parts, start=1)
    ]


def queue(
    session: AsyncSession,
    *,
    person_id: int,
    key: str,
    kind: str,
    text: Body,
    now: datetime,
    choices: Sequence[tuple[str, str]] = (),
    escalation_id: int | None = None,
    local_date: date | None = None,
) -> Delivery:
    """Add a message due now for one person (several if it is long); the key must be new."""
    deliveries = [
        Delivery(
            person_id=person_id,
            delivery_key=part_key,
            kind=kind,
            due_at=now,
            created_at=now,
            local_date=local_date,
            escalation_id=escalation_id,
            payload=payload,
        )
        for part_key, payload in paged_payloads(key, text, choices)
    ]
    session.add_all(deliveries)
    session.info.setdefault(_QUEUED, 0)
    session.info[_QUEUED] += len(deliveries)
    return deliveries[0]


async def queue_once(session: AsyncSession, **values: Any) -> bool:
    """Insert a delivery row unless its `(person, key)` exists; True if inserted.

    Used by tick jobs that may run in several processes at once: the unique key
    decides, without an error that would spoil the transaction.
    """
    statement = (
        insert_unless_taken(session, Delivery, unique=("person_id", "delivery_key"))
        .values(**values)
        .returning(col(Delivery.id))
    )
    inserted = (await session.exec(statement)).first() is not None
    if inserted:
        session.info.setdefault(_QUEUED, 0)
        session.info[_QUEUED] += 1
    return inserted


def queued_count(session: AsyncSession) -> int:
    """How many delivery rows coaching code added in this session."""
    return int(session.info.get(_QUEUED, 0))


async def queue_day_message(
    session: AsyncSession,
    *,
    person_id: int,
    key: str,
    kind: str,
    day: date,
    text: Body,
    now: datetime,
) -> bool:
    """Queue a tick's message for one person's local `day` once (`queue_once`); True if new.

    A long message goes in parts keyed `key`, `key:2` …; the first decides.
    """
    inserted = False
    for number, (part_key, payload) in enumerate(paged_payloads(key, text), start=1):
        added = await queue_once(
            session,
            person_id=person_id,
            delivery_key=part_key,
            kind=kind,
            local_date=day,
            due_at=now,
            created_at=now,
            status=DeliveryStatus.PENDING,
            payload=payload,
        )
        if number == 1 and not added:
            return False
        inserted = True
    return inserted
