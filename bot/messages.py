"""Neutral message types shared by coaching code and every transport."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, TypeAdapter


class OutboundKind(StrEnum):
    """What an outbound message is for; transports may render kinds differently."""

    LESSON = "lesson"
    QUIZ = "quiz"
    REFLECTION = "reflection"
    FEEDBACK = "feedback"
    NUDGE = "nudge"
    ESCALATION = "escalation"
    NOTICE = "notice"


@dataclass(frozen=True, slots=True)
class Choice:
    """One button under a message: a stable id and the label people see."""

    choice_id: str
    label: str


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message to one person, in a Markdown subset (*bold*, _italic_, lists)."""

    kind: OutboundKind
    text: str
    choices: tuple[Choice, ...] = ()
    delivery_id: int | None = None

    __pydantic_config__ = ConfigDict(extra="forbid")

    def to_payload(self) -> dict[str, Any]:
        """The message as JSON data for its outbox row (the row's id is not stored)."""
        return _OUTBOUND.dump_python(self, mode="json", exclude={"delivery_id"})

    @classmethod
    def from_payload(cls, data: Mapping[str, Any], *, delivery_id: int | None) -> Outbound:
        """The message `to_payload` stored, for row `delivery_id`; ValueError if it is not one."""
        return replace(_OUTBOUND.validate_python(data), delivery_id=delivery_id)


@dataclass(frozen=True, slots=True)
class SentRef:
    """Where a sent message lives on its platform, so it can be edited."""

    address: str
    message_id: str

    __pydantic_config__ = ConfigDict(extra="forbid")

    def to_payload(self) -> dict[str, Any]:
        """The reference as JSON data for the row of the message it points to."""
        return _SENT_REF.dump_python(self, mode="json")

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> SentRef:
        """The reference `to_payload` stored; ValueError if it is not one."""
        return _SENT_REF.validate_python(data)


@dataclass(frozen=True, slots=True)
class Answer:
    """A button press answering the prompt of `delivery_id`."""

    address: str
    event_id: str
    delivery_id: int
    choice_id: str


@dataclass(frozen=True, slots=True)
class Text:
    """Free text from a person: a typed answer, a reflection or a message to a coach."""

    address: str
    event_id: str
    text: str
    reply_to_delivery_id: int | None = None


@dataclass(frozen=True, slots=True)
class Command:
    """A command such as `pause` with its arguments, whatever the platform's syntax."""

    address: str
    event_id: str
    name: str
    args: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class CoachAction:
    """A coach's button or command on a case: claim, message or resolve."""

    address: str
    event_id: str
    escalation_id: int
    action: str
    text: str = ""


Inbound = Answer | Text | Command | CoachAction

_OUTBOUND = TypeAdapter(Outbound)
_SENT_REF = TypeAdapter(SentRef)
