"""Turn an outbox row into the neutral message a transport sends."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.messages import Choice, Outbound, OutboundKind
from storage.models import Delivery, Item, Lesson

_KINDS = {
    "lesson": OutboundKind.LESSON,
    "quiz": OutboundKind.QUIZ,
    "review": OutboundKind.QUIZ,
    "reflection": OutboundKind.REFLECTION,
    "feedback": OutboundKind.FEEDBACK,
    "nudge": OutboundKind.NUDGE,
    "escalation": OutboundKind.ESCALATION,
}
TYPED_HINTS = {
    "short": "Type your answer as a reply.",
    "numeric": "Type a number as a reply.",
    "multiple": "Pick every answer that applies, then press Done.",
}


class RenderError(Exception):
    """The row cannot be turned into a message (its lesson or item is gone)."""


def quiz_choices(item: Item) -> tuple[Choice, ...]:
    """The buttons of a quiz item; ids follow the grading contract (c0…, true/false, done)."""
    if item.type in ("single", "multiple"):
        buttons = [
            Choice(f"c{index}", choice["text"]) for index, choice in enumerate(item.data["choices"])
        ]
        if item.type == "multiple":
            buttons.append(Choice("done", "Done"))
        return tuple(buttons)
    if item.type == "true_false":
        return (Choice("true", "True"), Choice("false", "False"))
    return ()


def quiz_text(item: Item, *, review: bool) -> str:
    """The question, marked as a review when it comes back, with how to answer."""
    heading = "🔁 *Review*" if review else "❓ *Quiz*"
    hint = TYPED_HINTS.get(item.type)
    return f"{heading}\n{item.prompt}" + (f"\n_{hint}_" if hint else "")


async def render(session: AsyncSession, delivery: Delivery) -> Outbound:
    """The message for one delivery row."""
    kind = _KINDS.get(delivery.kind, OutboundKind.NOTICE)
    payload = delivery.payload or {}
    if "text" in payload:
        choices = tuple(Choice(str(cid), str(label)) for cid, label in payload.get("choices", ()))
        return Outbound(kind=kind, text=payload["text"], choices=choices, delivery_id=delivery.id)
    if delivery.kind in ("quiz", "review"):
        item = await session.get(Item, delivery.item_id) if delivery.item_id else None
        if item is None:
            raise RenderError(f"delivery {delivery.id}: its quiz item no longer exists")
        return Outbound(
            kind=kind,
            text=quiz_text(item, review=delivery.kind == "review"),
            choices=quiz_choices(item),
            delivery_id=delivery.id,
        )
    lesson = await session.get(Lesson, delivery.lesson_id) if delivery.lesson_id else None
    if lesson is None:
        raise RenderError(f"delivery {delivery.id}: its lesson no longer exists")
    if delivery.kind == "reflection":
        text = f"💭 *Reflection*\n{lesson.reflection}\n_Reply in a sentence or two._"
    else:
        text = f"📘 *{lesson.title}*\n\n{lesson.body}"
    return Outbound(kind=kind, text=text, delivery_id=delivery.id)
