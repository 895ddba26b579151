"""Telegram updates as neutral inbound events.

The event id of everything an update causes is its `update_id`, so a
redelivered update changes nothing (the router records each id once). A reply
to one of our messages names the outbox row it answers, from the message ids
this process sent (`SentMessages`); replies older than that are matched by the
router's own rules.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from telegram import CallbackQuery, Message, PollAnswer, Update

from bot.messages import Answer, CoachAction, Command, Inbound, InteractionRef, Join, Text
from bot.messages import PollAnswer as PollVote
from bot.transports.telegram.render import parse_callback_data

PLATFORM = "telegram"
REMEMBERED = 10_000  # sent message ids kept per process for matching replies
RESOLVE_PROMPT = "📝 Case #{case_id}: reply to this message with your resolution note."
_RESOLVE_PROMPT = re.compile(r"📝 Case #([0-9]{1,18}): reply to this message")
RESOLVE_BUTTON = re.compile(r"resolve:([0-9]{1,18})")


# The fields Telegram always sends in the updates the bot asks for, and the optional ones it
# reads, with their JSON types (Bot API: Update, Message, CallbackQuery, PollAnswer).
Shape = dict[str, Any]
_USER: Shape = {"id": int, "is_bot": bool, "first_name": str}
_CHAT: Shape = {"id": int, "type": str}
_ENTITY: Shape = {"type": str, "offset": int, "length": int}
_MESSAGE: Shape = {"message_id": int, "date": int, "chat": _CHAT}
_MESSAGE_OPTIONAL: Shape = {"from": _USER, "text": str, "entities": [_ENTITY]}
_CALLBACK: Shape = {"id": str, "from": _USER, "chat_instance": str}
_CALLBACK_OPTIONAL: Shape = {"data": str, "message": _MESSAGE}
_POLL_ANSWER: Shape = {"poll_id": str, "option_ids": [int]}
_POLL_ANSWER_OPTIONAL: Shape = {"user": _USER, "voter_chat": _CHAT}
UPDATE_SHAPES: dict[str, tuple[Shape, Shape]] = {  # kind: (required, optional)
    "message": (_MESSAGE, {**_MESSAGE_OPTIONAL, "reply_to_message": _MESSAGE}),
    "callback_query": (_CALLBACK, _CALLBACK_OPTIONAL),
    "poll_answer": (_POLL_ANSWER, _POLL_ANSWER_OPTIONAL),
}


def _fits(value: Any, shape: Any) -> bool:
    """True if a JSON value has the type `shape` names (an object's required keys, a list)."""
    if isinstance(shape, dict):
        return isinstance(value, dict) and all(
            key in value and _fits(value[key], inner) for key, inner in shape.items()
        )
    if isinstance(shape, list):
        return isinstance(value, list) and all(_fits(entry, shape[0]) for entry in value)
    if shape is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, shape)


def _optional_fit(value: dict[str, Any], optional: Shape) -> bool:
    """True if each optional key present has its type (a message's `from` may be another
    message's shape: `reply_to_message` is checked as a message, its own optional keys too)."""
    for key, shape in optional.items():
        if key not in value:
            continue
        if not _fits(value[key], shape):
            return False
        if shape is _MESSAGE and not _optional_fit(value[key], _MESSAGE_OPTIONAL):
            return False
    return True


def update_problem(data: Any) -> str | None:
    """Why `data` is not an update the bot can handle (one line), or None if it is one."""
    if not isinstance(data, dict) or not _fits(data.get("update_id"), int):
        return "not a Telegram update (no update_id)"
    for kind, (required, optional) in UPDATE_SHAPES.items():
        if kind in data and not (
            _fits(data[kind], required) and _optional_fit(data[kind], optional)
        ):
            return f"update {data['update_id']}: {kind} is not shaped as the Bot API sends it"
    return None


def address(chat_id: int) -> str:
    """The neutral address of a private chat (its id is the person's user id)."""
    return f"{PLATFORM}:{chat_id}"


def chat_id(address_: str) -> int:
    """The chat id of a `telegram:` address."""
    return int(address_.removeprefix(f"{PLATFORM}:"))


class SentMessages:
    """Which outbox row (and which case) each recently sent message belongs to."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self._size = size
        self._rows: OrderedDict[tuple[int, int], tuple[int, int | None]] = OrderedDict()

    def remember(self, chat: int, message_id: int, delivery_id: int, case_id: int | None) -> None:
        """Note that `message_id` in `chat` shows row `delivery_id` (about case `case_id`)."""
        self._rows[(chat, message_id)] = (delivery_id, case_id)
        while len(self._rows) > self._size:
            self._rows.popitem(last=False)

    def row(self, chat: int, message_id: int) -> tuple[int, int | None] | None:
        """The (delivery id, case id) a message shows, if this process sent it."""
        return self._rows.get((chat, message_id))


def command(update: Update, message: Message) -> Inbound:
    """`/start CODE` as a join; any other `/name args…` as that command."""
    words = (message.text or "").split()
    name = words[0].lstrip("/").split("@", 1)[0].casefold()
    args = tuple(words[1:])
    where, event = address(message.chat.id), str(update.update_id)
    if name == "start" and args:
        person = message.from_user.full_name if message.from_user else ""
        return Join(where, event, args[0], name=person)
    if name == "start":  # Start pressed again (or a blocked user back): what can I do?
        return Command(where, event, "help")
    return Command(where, event, name, args)


def text(update: Update, message: Message, sent: SentMessages, bot_id: int) -> Inbound:
    """Typed text, linked to the message it replies to: a prompt, a case, a resolution note."""
    where, event, typed = address(message.chat.id), str(update.update_id), message.text or ""
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.id != bot_id:
        return Text(where, event, typed)
    prompt = _RESOLVE_PROMPT.match(replied.text or "")
    if prompt is not None:
        return CoachAction(where, event, int(prompt.group(1)), "resolve", typed)
    row = sent.row(message.chat.id, replied.message_id)
    if row is None:
        return Text(where, event, typed)
    delivery_id, case_id = row
    if case_id is not None:
        return CoachAction(where, event, case_id, "message", typed)
    return Text(where, event, typed, reply_to_delivery_id=delivery_id)


def button(update: Update, query: CallbackQuery) -> Answer | None:
    """A button press as an answer to its outbox row; None for data this bot did not make."""
    parsed = parse_callback_data(query.data or "")
    if parsed is None:
        return None
    where = address(query.from_user.id)
    delivery_id, choice_id = parsed
    interaction = InteractionRef(where, query.id)
    return Answer(where, str(update.update_id), delivery_id, (choice_id,), interaction)


def vote(update: Update, answer: PollAnswer) -> PollVote | None:
    """A vote in a quiz poll: the chosen options as choice ids `c0`, `c1`, …"""
    if answer.user is None:
        return None
    choices = tuple(f"c{index}" for index in answer.option_ids)
    return PollVote(address(answer.user.id), str(update.update_id), answer.poll_id, choices)
