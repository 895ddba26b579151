"""Neutral message types shared by coaching code and every transport."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter

from content.limits import MESSAGE_CHARS, MESSAGE_SECTIONS


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
class QuizKey:
    """A single-choice question's right choice ids and explanation, for a platform that
    grades natively (a Telegram quiz poll shows the verdict the moment the learner votes).
    """

    correct: tuple[str, ...]
    explanation: str = ""


@dataclass(frozen=True, slots=True)
class UserText:
    """Text a person typed (a name, a reflection, a relayed message): shown as typed.

    Every transport escapes it for its platform, so `<!channel>` or `<b>` typed
    by a learner reaches a coach as those characters, not as a ping or a tag.
    """

    text: str


Span = str | UserText
"""A piece of a line: `str` is pack or bot Markdown (trusted markup), `UserText` a person's."""
Spans = tuple[Span, ...]


def spans_markdown(spans: Spans) -> str:
    """The spans joined as one Markdown string (user text as typed, unescaped)."""
    return "".join(span.text if isinstance(span, UserText) else span for span in spans)


def spans_length(spans: Spans) -> int:
    """The most characters the spans can take on any platform once escaped (`&` → `&amp;`)."""
    text = spans_markdown(spans)
    return len(text) + 4 * text.count("&") + 3 * (text.count("<") + text.count(">"))


_MASKS = ("\ue000", "\ue001")  # private-use characters: no Markdown, no escaping touches them
_MASKED = re.compile("\ue000+|\ue001+")


def masked(spans: Spans) -> tuple[str, list[str]]:
    """The spans as one Markdown string with each user text masked, and the user texts.

    Each user text becomes a run of one private-use character as long as itself,
    so Markdown markers pair across it (`*` name `*` is a bold name) while its
    own characters are never read as markup.
    """
    users: list[str] = []
    out: list[str] = []
    for span in spans:
        if not isinstance(span, UserText):
            out.append(span)
        elif span.text:
            out.append(_MASKS[len(users) % 2] * len(span.text))  # neighbours stay two runs
            users.append(span.text)
    return "".join(out), users


def unmasked(rendered: str, users: list[str], escape: Callable[[str], str]) -> str:
    """The rendered string with each masked run replaced by its user text, escaped."""
    texts = iter(users)
    return _MASKED.sub(lambda _: escape(next(texts)), rendered)


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message to one person in the Markdown subset (*bold*, _italic_, lists), in parts.

    The parts map onto Slack Block Kit and Telegram HTML alike: `icon` and
    `title` make the header, each of `sections` a section (paragraph), `context`
    the small print, `choices` the buttons. `text` is the whole message as one
    Markdown string: given alone (a plain message, one section) or derived from
    the parts when left empty. Renderers read the parts, so user text inside
    them is escaped; `text` is for logs, transcripts and tests.
    """

    kind: OutboundKind
    text: str = ""
    choices: tuple[Choice, ...] = ()
    delivery_id: int | None = None
    icon: str = ""
    title: Spans = ()
    sections: tuple[Spans, ...] = ()
    context: Spans = ()
    quiz_key: QuizKey | None = None  # rendered from the pack each time, so never stored

    def __post_init__(self) -> None:
        """Derive `text` from the parts, or the one section from `text`."""
        if not self.text:
            object.__setattr__(self, "text", self._markdown())
        elif not (self.title or self.sections or self.context):
            object.__setattr__(self, "sections", ((self.text,),))

    def _markdown(self) -> str:
        """The parts as one Markdown string: header line, a blank line, sections and context."""
        body = "\n".join(spans_markdown(part) for part in (*self.sections, self.context) if part)
        if not self.title:
            return body
        header = f"{self.icon} *{spans_markdown(self.title)}*".lstrip()
        return f"{header}\n\n{body}" if body else header

    def to_payload(self) -> dict[str, Any]:
        """The message as JSON data for its outbox row (the row's id is not stored)."""
        choices = [{"choice_id": c.choice_id, "label": c.label} for c in self.choices]
        return {"kind": self.kind.value, **parts_payload(self), "choices": choices}

    @classmethod
    def from_payload(cls, data: Mapping[str, Any], *, delivery_id: int | None) -> Outbound:
        """The message `to_payload` stored, for row `delivery_id`; ValueError if it is not one."""
        stored = _StoredOutbound.model_validate(data)
        return cls(
            kind=stored.kind,
            choices=stored.choices,
            delivery_id=delivery_id,
            **parts_of_payload(dict(data)),
        )


_WORD = re.compile(r"\S+\s*|\s+")


def _span_like(span: Span, text: str) -> Span:
    """`text` as the same kind of span as `span` (user text stays user text)."""
    return UserText(text) if isinstance(span, UserText) else text


def _pieces(spans: Spans, limit: int) -> list[Spans]:
    """The spans cut after each line break; a line longer than `limit` cut between words."""
    lines: list[list[Span]] = [[]]
    for span in spans:
        text = span.text if isinstance(span, UserText) else span
        for line in text.splitlines(keepends=True):
            lines[-1].append(_span_like(span, line))
            if line.endswith("\n"):
                lines.append([])
    pieces: list[Spans] = []
    for row in lines:
        if spans_length(tuple(row)) <= limit:
            pieces.append(tuple(row))
            continue
        for span in row:  # a word longer than a fifth of the limit is cut too: 5 = len("&amp;")
            text = span.text if isinstance(span, UserText) else span
            for word in _WORD.findall(text):
                step = limit // 5
                pieces += [
                    (_span_like(span, word[i : i + step]),) for i in range(0, len(word), step)
                ]
    return [piece for piece in pieces if piece]


def split_spans(spans: Spans, limit: int = MESSAGE_CHARS) -> list[Spans]:
    """The spans in parts of at most `limit` escaped characters, cut after line breaks if possible.

    The parts joined are the spans again, character for character.
    """
    parts: list[Spans] = [()]
    for piece in _pieces(spans, limit):
        if parts[-1] and spans_length(parts[-1] + piece) > limit:
            parts.append(())
        parts[-1] += piece
    return [part for part in parts if part]


def pages(message: Outbound, limit: int = MESSAGE_CHARS) -> list[Outbound]:
    """The message as one or more messages that each fit every platform; nothing is cut away.

    A long section is split at line breaks; sections fill pages in order. The
    header comes on every page, numbered `(2/3)`; the context and the buttons
    come on the last one.
    """
    if spans_length((message.text,)) <= limit and len(message.sections) <= MESSAGE_SECTIONS:
        return [message]
    header = spans_length(message.title) + len(message.icon) + 12  # "* (10/12)*\n\n"
    budget = limit - header - spans_length(message.context) - 1
    sections = [part for section in message.sections for part in split_spans(section, budget)]
    grouped: list[list[Spans]] = [[]]
    for section in sections:
        used = sum(spans_length(part) + 1 for part in grouped[-1])
        if grouped[-1] and (
            used + spans_length(section) > budget or len(grouped[-1]) >= MESSAGE_SECTIONS
        ):
            grouped.append([])
        grouped[-1].append(section)
    total = len(grouped)
    return [
        replace(
            message,
            text="",
            title=(*message.title, f" ({number}/{total})") if message.title else (),
            sections=tuple(group),
            context=message.context if number == total else (),
            choices=message.choices if number == total else (),
        )
        for number, group in enumerate(grouped, start=1)
    ]


def _span_json(span: Span) -> Any:
    """A span as JSON: Markdown as a string, user text as `{"user": text}`."""
    return {"user": span.text} if isinstance(span, UserText) else span


def _span_of(value: Any) -> Span:
    """The span `_span_json` wrote."""
    return UserText(str(value["user"])) if isinstance(value, dict) else str(value)


def parts_payload(message: Outbound) -> dict[str, Any]:
    """The stored form of a message's text and parts (`text`, and `icon`/`title`/… when set)."""
    payload: dict[str, Any] = {"text": message.text}
    if message.sections != ((message.text,),):
        payload["sections"] = [[_span_json(span) for span in part] for part in message.sections]
    for name in ("title", "context"):
        if getattr(message, name):
            payload[name] = [_span_json(span) for span in getattr(message, name)]
    if message.icon:
        payload["icon"] = message.icon
    return payload


def parts_of_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of `Outbound` for the text and parts `parts_payload` stored."""
    if not any(name in payload for name in ("sections", "title", "context")):
        return {"text": str(payload.get("text", ""))}
    return {
        "text": str(payload.get("text", "")),
        "icon": str(payload.get("icon", "")),
        "title": tuple(_span_of(span) for span in payload.get("title", ())),
        "sections": tuple(
            tuple(_span_of(span) for span in part) for part in payload.get("sections", ())
        ),
        "context": tuple(_span_of(span) for span in payload.get("context", ())),
    }


class _UserSpan(BaseModel):
    """A stored user span: `{"user": text}`."""

    model_config = ConfigDict(extra="forbid")

    user: str


_StoredSpans = tuple[str | _UserSpan, ...]


class _StoredOutbound(BaseModel):
    """The shape `Outbound.to_payload` stores, checked before it is read back."""

    model_config = ConfigDict(extra="forbid")

    kind: OutboundKind
    text: str
    choices: tuple[Choice, ...] = ()
    icon: str = ""
    title: _StoredSpans = ()
    sections: tuple[_StoredSpans, ...] = ()
    context: _StoredSpans = ()


@dataclass(frozen=True, slots=True)
class SentRef:
    """Where a sent message lives on its platform, so it can be edited."""

    address: str
    message_id: str
    poll_id: str | None = None  # a Telegram poll: its answers name the poll, not the message

    __pydantic_config__ = ConfigDict(extra="forbid")

    def to_payload(self) -> dict[str, Any]:
        """The reference as JSON data for the row of the message it points to."""
        return _SENT_REF.dump_python(self, mode="json")

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> SentRef:
        """The reference `to_payload` stored; ValueError if it is not one."""
        return _SENT_REF.validate_python(data)


@dataclass(frozen=True, slots=True)
class InteractionRef:
    """The platform's handle on one interaction, to answer it in place instead of with a message.

    Slack: the `response_url` of a button press or slash command (an ephemeral
    reply); Telegram: the callback query id (`answerCallbackQuery`); console: the event id.
    With `replies`, whole replies (up to a message long) go back this way too, not
    only short answers about the interaction: a Slack slash command's.
    """

    address: str
    token: str
    replies: bool = False


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
class PollAnswer:
    """A vote in a quiz poll (Telegram `poll_answer`): it names the poll, not the message.

    `choice_ids` are the chosen options (empty when the vote is taken back).
    """

    address: str
    event_id: str
    poll_id: str
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
    A platform that vouches for its members (a Slack workspace) may instead name the
    `team` to join without a code, with the person's `timezone` if it knows it.
    """

    address: str
    event_id: str
    invite_code: str
    name: str = ""
    interaction: InteractionRef | None = None
    team: str = ""
    timezone: str = ""


@dataclass(frozen=True, slots=True)
class Blocked:
    """The person blocked the bot (Telegram `my_chat_member`): stop sending to them now.

    Writing to the bot again (Start, after unblocking it) makes them reachable.
    """

    address: str
    event_id: str
    interaction: InteractionRef | None = None


Inbound = Answer | PollAnswer | Text | Command | CoachAction | Join | Blocked
ROW_ID = re.compile(r"[0-9]{1,18}")  # ASCII digits that fit a database integer


def row_id(text: object) -> int | None:
    """The outbox row or case id a button, modal or reply carries as text; None if it holds none."""
    return int(text) if isinstance(text, str) and ROW_ID.fullmatch(text) else None


E = TypeVar(
    "E", bound=Answer | PollAnswer | Text | Command | CoachAction | Join | Blocked | InteractionRef
)


def _without_nul(value: Any) -> Any:
    """A field's value with NUL characters taken out of every text in it."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, tuple):
        return tuple(_without_nul(inner) for inner in value)
    if isinstance(value, InteractionRef):
        return without_nul(value)
    return value


def without_nul(event: E) -> E:
    """The event with NUL characters taken out of its texts: PostgreSQL refuses them in text,
    and no person means one."""
    values = {each.name: getattr(event, each.name) for each in fields(event)}
    changed = {name: _without_nul(value) for name, value in values.items()}
    changed = {name: value for name, value in changed.items() if value != values[name]}
    return replace(event, **changed) if changed else event


_SENT_REF = TypeAdapter(SentRef)
