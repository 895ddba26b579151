"""What an outbox row stores: its whole message, or the state of a message rendered late.

Rows of `PACK_KINDS` are rendered from pack content when sent (the lesson or
item may change until then); they store only a `PromptState`. Every other row
stores its `Outbound`. Both are validated when written and when read.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.messages import Outbound, OutboundKind
from storage.models import PACK_KINDS, Delivery, DeliveryKind

OUTBOUND_KIND = {
    DeliveryKind.LESSON: OutboundKind.LESSON,
    DeliveryKind.QUIZ: OutboundKind.QUIZ,
    DeliveryKind.REVIEW: OutboundKind.QUIZ,
    DeliveryKind.REFLECTION: OutboundKind.REFLECTION,
    DeliveryKind.FOLLOW_UP: OutboundKind.REFLECTION,
    DeliveryKind.FEEDBACK: OutboundKind.FEEDBACK,
    DeliveryKind.NUDGE: OutboundKind.NUDGE,
    DeliveryKind.ESCALATION: OutboundKind.ESCALATION,
    DeliveryKind.NOTICE: OutboundKind.NOTICE,
}
"""How each kind that has a message of its own shows (an edit shows as what it edits)."""


class PayloadError(ValueError):
    """A row's stored payload is not what its kind stores."""


class PromptState(BaseModel):
    """The stored part of a row rendered from pack content: a multiple choice's picks so far."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    picked: tuple[str, ...] = ()


def _one_line(exc: ValueError) -> str:
    """A validation error in one line: each problem's place and message."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in exc.errors()
        )
    return str(exc)


def kind_of(delivery: Delivery) -> DeliveryKind:
    """The row's kind; a kind this version does not know is an error, never a notice."""
    try:
        return DeliveryKind(delivery.kind)
    except ValueError:
        raise PayloadError(f"delivery {delivery.id}: unknown kind {delivery.kind!r}") from None


def prompt_state(delivery: Delivery) -> PromptState:
    """The stored state of a row rendered from pack content."""
    if kind_of(delivery) not in PACK_KINDS:
        raise PayloadError(f"delivery {delivery.id}: a {delivery.kind} row stores its message")
    try:
        return PromptState.model_validate(delivery.payload)
    except ValueError as exc:
        raise PayloadError(f"delivery {delivery.id}: bad stored state: {_one_line(exc)}") from exc


def stored_message(delivery: Delivery) -> Outbound:
    """The message a row stores, as it is sent (with the row's id)."""
    if kind_of(delivery) in PACK_KINDS:
        raise PayloadError(
            f"delivery {delivery.id}: a {delivery.kind} row is rendered from its pack"
        )
    try:
        return Outbound.from_payload(delivery.payload, delivery_id=delivery.id)
    except ValueError as exc:
        raise PayloadError(f"delivery {delivery.id}: bad stored message: {_one_line(exc)}") from exc


def payload_for(kind: DeliveryKind, message: Outbound | PromptState) -> dict[str, Any]:
    """The payload to store for a row of `kind`; raises PayloadError when it does not fit."""
    if kind in PACK_KINDS:
        if not isinstance(message, PromptState):
            raise PayloadError(f"a {kind} row stores a PromptState, not {message!r}")
        return message.model_dump(mode="json", exclude_defaults=True)
    if not isinstance(message, Outbound):
        raise PayloadError(f"a {kind} row stores an Outbound, not {message!r}")
    return message.to_payload()
