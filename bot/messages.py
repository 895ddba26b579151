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
    poll_id: str | None = None  # a Telegram poll: its answers name the poll, not the message


@dataclass(frozen=True, slots=True)
class InteractionRef:
    """The platform's handle on one interaction, to answer it in place instead of with a message.

    Slack: the `response_url` of a button press or slash command (an ephemeral
    reply); Telegram: the callback query id (`answerCallbackQuery`); console: the event id.
    """

    address: str
    token: str


@dataclass(frozen=True, slots=True)
class Answer:
    """Buttons answering the prompt of `delivery_id`: one id, or a submitted set.

    One choice id is a button press (on a multiple-choice item it toggles that
    pick, and `done` sends the picks). Several ids, or ids ending in `done`, are
    one submitted answer: a Slack checkbox submit, a Telegram poll answer.
    """

    address: str
    event_id: str
    delivery_id: int
    choice_ids: tuple[str, ...]
    interaction: InteractionRef | None = None


@dataclass(frozen=True, slots=True)
class Text:
    """Free text from a person: a typed answer, a reflection or a message to a coach."""

    address: str
    event_id: str
    text: str
    reply_to_delivery_id: int | None = None
    interaction: InteractionRef | None = None


@dataclass(frozen=True, slots=True)
class Command:
    """A command such as `pause` with its arguments, whatever the platform's syntax."""

    address: str
    event_id: str
    name: str
    args: tuple[str, ...] = field(default_factory=tuple)
    interaction: InteractionRef | None = None


@dataclass(frozen=True, slots=True)
class CoachAction:
    """A coach's button or command on a case: claim, message or resolve."""

    address: str
    event_id: str
    escalation_id: int
    action: str
    text: str = ""
    interaction: InteractionRef | None = None


@dataclass(frozen=True, slots=True)
class Join:
    """Someone asks to sign up with an invite code (Telegram `/start CODE`, Slack `/coach join`).

    It may come from an address no person has yet; `name` is what the platform calls them.
    """

    address: str
    event_id: str
    invite_code: str
    name: str = ""
    interaction: InteractionRef | None = None


Inbound = Answer | Text | Command | CoachAction | Join
