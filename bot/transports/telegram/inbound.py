"""Telegram updates as neutral inbound events.

The event id of everything an update causes is its `update_id`, so a
redelivered update changes nothing (the router records each id once). A reply
to one of our messages names the outbox row it answers (`SentMessage`, which
the transport finds in the database by the replied message's id), so replies
reach their case or prompt whichever process sent the message.
"""

from __future__ import annotations

import re

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
_RESOLVE_PROMPT = re.compile(r"📝 Case #(\d+): reply to this message")
RESOLVE_BUTTON = re.compile(r"resolve:(\d+)")


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
