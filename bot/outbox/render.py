"""Turn an outbox row into the neutral message a transport sends."""

from __future__ import annotations

from dataclasses import replace

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.messages import Choice, Outbound, OutboundKind, QuizKey
from bot.outbox.payload import OUTBOUND_KIND, PayloadError, kind_of, prompt_state, stored_message
from storage.models import PACK_KINDS, PROMPT_KINDS, Delivery, DeliveryKind, Item, Lesson

TYPED_HINTS = {
    "short": "Type your answer as a reply.",
    "numeric": "Type a number as a reply.",
    "multiple": "Pick every answer that applies, then press Done.",
}


FOLLOW_UP_HEADING = "🎯 *Follow-up:"


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
        quiz_key=_quiz_key(item),
    )


def _quiz_key(item: Item) -> QuizKey | None:
    """The right choice of a single-choice item, with its explanation; None for other types."""
    if item.type != "single":
        return None
    right = tuple(f"c{i}" for i, choice in enumerate(item.data["choices"]) if choice["correct"])
    return QuizKey(correct=right, explanation=item.explanation)


def follow_up_message(lesson: Lesson, *, delivery_id: int | None) -> Outbound:
    """The question asked a few working days after a lesson, about what the learner tried."""
    commitment = lesson.commitment or {}
    planned = f"You planned to try: _{commitment.get('try', '')}_"
    return Outbound(
        kind=OutboundKind.REFLECTION,
        sections=(
            (f"{FOLLOW_UP_HEADING} {lesson.title}*\n{planned}",),
            (commitment.get("follow_up", ""),),
        ),
        context=("_Reply in a sentence or two._",),
        delivery_id=delivery_id,
    )


def lesson_message(lesson: Lesson, *, reflection: bool, delivery_id: int | None) -> Outbound:
    """A lesson (its title as the header, its commitment last) or its reflection prompt."""
    if reflection:
        return Outbound(
            kind=OutboundKind.REFLECTION,
            sections=((f"💭 *Reflection*\n{lesson.reflection}",),),
            context=("_Reply in a sentence or two._",),
            delivery_id=delivery_id,
        )
    commitment = ((f"🎯 *Try this:* {lesson.commitment['try']}",),) if lesson.commitment else ()
    return Outbound(
        kind=OutboundKind.LESSON,
        icon="📘",
        title=(lesson.title,),
        sections=((lesson.body,), *commitment),
        delivery_id=delivery_id,
    )


async def render(session: AsyncSession, delivery: Delivery) -> Outbound:
    """The message for one delivery row: the one it stores, or one made from its pack content.

    An edit shows as the message it replaces, so its buttons answer that one.
    """
    item = lesson = None
    if delivery.kind in PROMPT_KINDS and delivery.item_id:
        item = await session.get(Item, delivery.item_id)
    elif delivery.kind in PACK_KINDS and delivery.lesson_id:
        lesson = await session.get(Lesson, delivery.lesson_id)
    return message_for(delivery, item=item, lesson=lesson)


def message_for(delivery: Delivery, *, item: Item | None, lesson: Lesson | None) -> Outbound:
    """`render` with the row's quiz item and lesson at hand (None for one that is gone)."""
    try:
        kind = kind_of(delivery)
        if kind not in PACK_KINDS:
            message = stored_message(delivery)
            if kind == DeliveryKind.EDIT:
                return replace(message, delivery_id=delivery.refers_to)
            return message
        prompt_state(delivery)
    except PayloadError as exc:
        raise RenderError(str(exc)) from exc
    outbound_kind = OUTBOUND_KIND[kind]
    if kind in PROMPT_KINDS:
        if item is None:
            raise RenderError(f"delivery {delivery.id}: its quiz item no longer exists")
        message = quiz_message(item, review=kind == DeliveryKind.REVIEW, delivery_id=delivery.id)
        return replace(message, kind=outbound_kind)
    if lesson is None:
        raise RenderError(f"delivery {delivery.id}: its lesson no longer exists")
    if kind == DeliveryKind.FOLLOW_UP:
        return follow_up_message(lesson, delivery_id=delivery.id)
    message = lesson_message(
        lesson, reflection=kind == DeliveryKind.REFLECTION, delivery_id=delivery.id
    )
    return replace(message, kind=outbound_kind)
