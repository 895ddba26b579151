"""Reflections: stored with the lesson they answer; a request for help opens a case.

The day's reflection prompt and a commitment's follow-up are both answered this way.
"""

from __future__ import annotations

import re

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.coaching.escalation import open_case
from bot.conversation.answers import latest_day
from bot.conversation.turn import Turn
from storage.models import REFLECTION_KINDS, Delivery, DeliveryStatus, Reflection

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})

THANKS = "📝 Thanks, your reflection is saved."
HELP_NOTED = "📝 Thanks, your reflection is saved. I've asked a coach to get in touch with you."


def asks_for_help(text: str, phrases: tuple[str, ...]) -> bool:
    """True when the text contains one of the team's help phrases (case and spacing ignored)."""
    folded = " ".join(text.translate(_APOSTROPHES).casefold().split())
    return any(re.search(rf"\b{re.escape(phrase)}\b", folded) for phrase in phrases)


async def awaiting_reflection(session: AsyncSession, *, person_id: int) -> Delivery | None:
    """The newest day's first sent reflection or follow-up prompt the learner has not answered.

    Oldest first: with both on one day, answers come in the order they were asked.
    """
    statement = (
        select(Delivery)
        .outerjoin(Reflection, col(Reflection.delivery_id) == Delivery.id)
        .where(
            Delivery.person_id == person_id,
            col(Delivery.kind).in_(REFLECTION_KINDS),
            Delivery.status == DeliveryStatus.SENT,
            col(Reflection.id).is_(None),
            col(Delivery.refers_to).is_(None),  # a copy (`today`) is answered as the first
            Delivery.local_date == latest_day(person_id),
        )
        .order_by(col(Delivery.sent_at), col(Delivery.id))
        .limit(1)
    )
    return (await session.exec(statement)).first()


async def has_reflection(session: AsyncSession, delivery_id: int) -> bool:
    """True once the reflection prompt of `delivery_id` has been answered."""
    statement = select(Reflection.id).where(Reflection.delivery_id == delivery_id)
    return (await session.exec(statement)).first() is not None


async def store_reflection(turn: Turn, prompt: Delivery, text: str) -> Reflection:
    """Save the reflection; if it asks for help (and the team listens), open a case."""
    policy = turn.policy
    helpish = asks_for_help(text, policy.help_phrases)
    reflection = Reflection(
        person_id=turn.person.id,
        lesson_id=prompt.lesson_id,
        delivery_id=prompt.id,
        text=text.strip(),
        asks_for_help=helpish,
        created_at=turn.now,
    )
    turn.session.add(reflection)
    await turn.session.flush()
    if helpish and policy.signal_help:
        await open_case(
            turn.session,
            person=turn.person,
            signal="help",
            reason="asked for help in a reflection",
            now=turn.now,
            admin_addresses=turn.admin_addresses,
        )
        turn.reply(HELP_NOTED)
    else:
        turn.reply(THANKS)
    return reflection
