"""Turn an outbox row into the neutral message a transport sends."""

from __future__ import annotations

from dataclasses import replace

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.messages import Choice, Outbound, OutboundKind, parts_of_payload
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


def quiz_message(item: Item, *, review: bool, delivery_id: int | None = None) -> Outbound:
    """The question, marked as a review when it comes back, with how to answer as small print."""
    heading = "🔁 *Review*" if review else "❓ *Quiz*"
    hint = TYPED_HINTS.get(item.type)
    return Outbound(
        kind=OutboundKind.QUIZ,
        sections=((f"{heading}\n{item.prompt}",),),
        context=(f"_{hint}_",) if hint else (),
        choices=quiz_choices(item),
        delivery_id=delivery_id,
    )


def lesson_message(lesson: Lesson, *, reflection: bool, delivery_id: int | None) -> Outbound:
    """A lesson (its title as the header) or its reflection prompt."""
    if reflection:
        return Outbound(
            kind=OutboundKind.REFLECTION,
            sections=((f"💭 *Reflection*\n{lesson.reflection}",),),
            context=("_Reply in a sentence or two._",),
            delivery_id=delivery_id,
        )
    return Outbound(
        kind=OutboundKind.LESSON,
        icon="📘",
        title=(lesson.title,),
        sections=((lesson.body,),),
        delivery_id=delivery_id,
    )


async def render(session: AsyncSession, delivery: Delivery) -> Outbound:
    """The message for one delivery row."""
    kind = _KINDS.get(delivery.kind, OutboundKind.NOTICE)
    payload = delivery.payload or {}
    if "text" in payload:
        choices = tuple(Choice(str(cid), str(label)) for cid, label in payload.get("choices", ()))
        return Outbound(
            kind=kind, choices=choices, delivery_id=delivery.id, **parts_of_payload(payload)
        )
    if delivery.kind in ("quiz", "review"):
        item = await session.get(Item, delivery.item_id) if delivery.item_id else None
        if item is None:
            raise RenderError(f"delivery {delivery.id}: its quiz item no longer exists")
        message = quiz_message(item, review=delivery.kind == "review", delivery_id=delivery.id)
        return replace(message, kind=kind)
    lesson = await session.get(Lesson, delivery.lesson_id) if delivery.lesson_id else None
    if lesson is None:
        raise RenderError(f"delivery {delivery.id}: its lesson no longer exists")
    message = lesson_message(
        lesson, reflection=delivery.kind == "reflection", delivery_id=delivery.id
    )
    return replace(message, kind=kind)
