"""Which outbox row a message on a platform shows, found by the message id it was sent as.

A reply on a platform that threads by message (Telegram) names only the message
it answers; the dispatcher stores each sent row's platform message id
(`Delivery.platform_ref`), so the row, and the case a coach's message is about,
are found from the database, whatever process sent it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam
from sqlmodel import col, select

from bot.coaching.people import split_address
from storage.db import SessionFactory
from storage.models import Delivery, DeliveryKind, Person

_SENT_AS = (  # built once: asked for each reply to one of our messages
    select(Delivery.id, Delivery.kind, Delivery.escalation_id)
    .join(Person, col(Person.id) == Delivery.person_id)
    .where(
        Person.platform == bindparam("platform"),
        Person.platform_id == bindparam("platform_id"),
        Delivery.platform_ref == bindparam("message_id"),
    )
    .order_by(col(Delivery.id))
    .limit(1)
)


@dataclass(frozen=True, slots=True)
class SentMessage:
    """The outbox row a sent message shows and, for a coach's case message, its case."""

    delivery_id: int
    case_id: int | None = None


async def sent_message(
    address: str, message_id: str, *, sessions: SessionFactory
) -> SentMessage | None:
    """The row sent to `address` as platform message `message_id`; None if none was."""
    platform, platform_id = split_address(address)
    params = {"platform": platform, "platform_id": platform_id, "message_id": message_id}
    async with sessions() as session:
        row = (await session.exec(_SENT_AS, params=params)).first()
    if row is None:
        return None
    delivery_id, kind, case_id = row
    return SentMessage(delivery_id, case_id if kind == DeliveryKind.ESCALATION else None)
