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

from storage.db import insert_unless_taken
from storage.models import Delivery, DeliveryStatus

_QUEUED = "coaching_queued"


def message_payload(text: str, choices: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """The payload of a text message, with buttons as `[choice_id, label]` pairs."""
    payload: dict[str, Any] = {"text": text}
    if choices:
        payload["choices"] = [[choice_id, label] for choice_id, label in choices]
    return payload


def queue(
    session: AsyncSession,
    *,
    person_id: int,
    key: str,
    kind: str,
    text: str,
    now: datetime,
    choices: Sequence[tuple[str, str]] = (),
    escalation_id: int | None = None,
    local_date: date | None = None,
) -> Delivery:
    """Add a message due now for one person; the key must be new for that person."""
    delivery = Delivery(
        person_id=person_id,
        delivery_key=key,
        kind=kind,
        due_at=now,
        created_at=now,
        local_date=local_date,
        escalation_id=escalation_id,
        payload=message_payload(text, choices),
    )
    session.add(delivery)
    session.info.setdefault(_QUEUED, 0)
    session.info[_QUEUED] += 1
    return delivery


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
    text: str,
    now: datetime,
) -> bool:
    """Queue a tick's message for one person's local `day` once (`queue_once`); True if new."""
    return await queue_once(
        session,
        person_id=person_id,
        delivery_key=key,
        kind=kind,
        local_date=day,
        due_at=now,
        created_at=now,
        status=DeliveryStatus.PENDING,
        payload=message_payload(text),
    )
