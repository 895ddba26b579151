"""Telegram updates as neutral inbound events.

The event id of everything an update causes is its `update_id`, so a
redelivered update changes nothing (the router records each id once). A reply
to one of our messages names the outbox row it answers (`SentMessage`, which
the transport finds in the database by the replied message's id), so replies
reach their case or prompt whichever process sent the message.
"""

from __future__ import annotations

import re
from typing import Any

from telegram import CallbackQuery, ChatMember, ChatMemberUpdated, Message, PollAnswer, Update
from telegram.constants import ChatType

from bot.messages import (
    Answer,
    Blocked,
    CoachAction,
    Command,
    Inbound,
    InteractionRef,
    Join,
    Text,
)
from bot.messages import PollAnswer as PollVote
from bot.outbox.sent import SentMessage
from bot.transports.telegram.render import parse_callback_data

PLATFORM = "telegram"
RESOLVE_PROMPT = "📝 Case #{case_id}: reply to this message with your resolution note."
_RESOLVE_PROMPT = re.compile(r"📝 Case #([0-9]{1,18}): reply to this message")
RESOLVE_BUTTON = re.compile(r"resolve:([0-9]{1,18})")


# The fields Telegram always sends in the updates the bot asks for, and the optional ones it
# reads, with their JSON types (Bot API: Update, Message, CallbackQuery, PollAnswer,
# ChatMemberUpdated).
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
_MEMBER: Shape = {"status": str, "user": _USER}
_MEMBERSHIP: Shape = {
    "chat": _CHAT,
    "from": _USER,
    "date": int,
    "old_chat_member": _MEMBER,
    "new_chat_member": _MEMBER,
}
UPDATE_SHAPES: dict[str, tuple[Shape, Shape]] = {  # kind: (required, optional)
    "message": (_MESSAGE, {**_MESSAGE_OPTIONAL, "reply_to_message": _MESSAGE}),
    "callback_query": (_CALLBACK, _CALLBACK_OPTIONAL),
    "poll_answer": (_POLL_ANSWER, _POLL_ANSWER_OPTIONAL),
    "my_chat_member": (_MEMBERSHIP, {}),
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


def command_name(message: Message) -> str:
    """The command a message begins with, casefolded, without slash or bot (`/Start@bot`)."""
    words = (message.text or "").split()
    return words[0].lstrip("/").split("@", 1)[0].casefold() if words else ""


def replied_message(message: Message, bot_id: int) -> Message | None:
    """The bot's message that `message` replies to, if it replies to one."""
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.id != bot_id:
        return None
    return replied


def command(update: Update, message: Message) -> Inbound:
    """`/start CODE` as a join; any other `/name args…` as that command."""
    name, args = command_name(message), tuple((message.text or "").split()[1:])
    where, event = address(message.chat.id), str(update.update_id)
    if name == "start" and args:
        person = message.from_user.full_name if message.from_user else ""
        return Join(where, event, args[0], name=person)
    if name == "start":  # Start pressed again (or a blocked user back): what can I do?
        return Command(where, event, "help")
    return Command(where, event, name, args)


def text(
    update: Update, message: Message, *, replied: Message | None, shown: SentMessage | None
) -> Inbound:
    """Typed text, linked to the bot's message it replies to (`replied`, which shows the outbox
    row `shown`): a prompt, a case, a resolution note."""
    where, event, typed = address(message.chat.id), str(update.update_id), message.text or ""
    if replied is None:
        return Text(where, event, typed)
    prompt = _RESOLVE_PROMPT.match(replied.text or "")
    if prompt is not None:
        return CoachAction(where, event, int(prompt.group(1)), "resolve", typed)
    if shown is None:
        return Text(where, event, typed)
    if shown.case_id is not None:
        return CoachAction(where, event, shown.case_id, "message", typed)
    return Text(where, event, typed, reply_to_delivery_id=shown.delivery_id)


def button(update: Update, query: CallbackQuery) -> Answer | None:
    """A button press as an answer to its outbox row; None for data this bot did not make."""
    parsed = parse_callback_data(query.data or "")
    if parsed is None:
        return None
    where = address(query.from_user.id)
    delivery_id, choice_id = parsed
    interaction = InteractionRef(where, query.id)
    return Answer(where, str(update.update_id), delivery_id, (choice_id,), interaction)


def membership(update: Update, change: ChatMemberUpdated) -> Blocked | None:
    """The bot's own membership in a private chat changed: blocked by the person, or None
    (an unblock needs nothing: the person's next message, Start, makes them reachable)."""
    if change.chat.type != ChatType.PRIVATE or change.new_chat_member.status != ChatMember.BANNED:
        return None
    return Blocked(address(change.chat.id), str(update.update_id))


def vote(update: Update, answer: PollAnswer) -> PollVote | None:
    """A vote in a quiz poll: the chosen options as choice ids `c0`, `c1`, …"""
    if answer.user is None:
        return None
    choices = tuple(f"c{index}" for index in answer.option_ids)
    return PollVote(address(answer.user.id), str(update.update_id), answer.poll_id, choices)
