"""Neutral message types shared by coaching code and every transport."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


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


@dataclass(frozen=True, slots=True)
class SentRef:
    """Where a sent message lives on its platform, so it can be edited."""

    address: str
    message_id: str


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
