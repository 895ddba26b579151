"""Neutral messages as Telegram sends them: HTML text with an inline keyboard, a ForceReply
prompt, or a native quiz poll.

Button callback data is `<delivery id>:<choice id>` (ids only, never text), well
inside Telegram's 64 bytes. A single-choice question goes out as a quiz poll
when it fits the poll limits (question, options); otherwise, and for every other
question type, as HTML with buttons.
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, InputPollOption

from bot.messages import Outbound, OutboundKind, row_id, spans_markdown
from bot.ports import PermanentError
from bot.transports.console import plain_text
from bot.transports.escaping import telegram_message

CALLBACK_DATA_BYTES = 64
POLL_QUESTION_CHARS = 300
POLL_OPTION_CHARS = 100
POLL_OPTIONS_MAX = 12
POLL_EXPLANATION_CHARS = 200
POLL_EXPLANATION_LINES = 3  # at most two line feeds
ROW_LABEL_CHARS = 12  # a keyboard this short (True/False, Claim/Resolve) fits on one row
ROW_BUTTONS = 3
DONE = "done"  # the choice id that submits multiple-choice picks
TICK = "✅ "

Markup = InlineKeyboardMarkup | ForceReply


@dataclass(frozen=True, slots=True)
class HtmlMessage:
    """A text message: HTML and its keyboard or reply prompt."""

    html: str
    markup: Markup | None


@dataclass(frozen=True, slots=True)
class QuizPoll:
    """A native quiz poll: question, options, the right option's index and the explanation."""

    question: str
    options: tuple[InputPollOption, ...]
    correct: tuple[int, ...]
    explanation: str | None


def callback_data(delivery_id: int, choice_id: str) -> str:
    """The data of one button; PermanentError when it would not fit Telegram's 64 bytes."""
    data = f"{delivery_id}:{choice_id}"
    if len(data.encode()) > CALLBACK_DATA_BYTES:
        raise PermanentError(f"button data {data!r} is longer than {CALLBACK_DATA_BYTES} bytes")
    return data


def parse_callback_data(data: str) -> tuple[int, str] | None:
    """`12:c0` → (12, `c0`); None for data this bot did not make."""
    delivery, _, choice = data.partition(":")
    row = row_id(delivery)
    return (row, choice) if row is not None and choice else None


def keyboard(message: Outbound) -> InlineKeyboardMarkup | None:
    """The message's choices as inline buttons: short ones on one row, else one per row."""
    if not message.choices:
        return None
    if message.delivery_id is None:
        raise PermanentError("a message with buttons must belong to an outbox row")
    buttons = [
        InlineKeyboardButton(
            choice.label, callback_data=callback_data(message.delivery_id, choice.choice_id)
        )
        for choice in message.choices
    ]
    short = all(len(choice.label) <= ROW_LABEL_CHARS for choice in message.choices)
    if short and len(buttons) <= ROW_BUTTONS:
        return InlineKeyboardMarkup([buttons])
    return InlineKeyboardMarkup([[button] for button in buttons])


def toggled(markup: InlineKeyboardMarkup, data: str) -> InlineKeyboardMarkup | None:
    """A multiple-choice keyboard with the pressed pick's tick switched; None for other keyboards.

    The picks live in the keyboard the learner sees, so no state is kept here.
    """
    buttons = [button for row in markup.inline_keyboard for button in row]
    if not any(str(button.callback_data).endswith(f":{DONE}") for button in buttons):
        return None
    if data.endswith(f":{DONE}"):
        return None

    def flip(label: str) -> str:
        return label.removeprefix(TICK) if label.startswith(TICK) else TICK + label

    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    flip(button.text) if button.callback_data == data else button.text,
                    callback_data=button.callback_data,
                )
                for button in row
            ]
            for row in markup.inline_keyboard
        ]
    )


def wants_reply(message: Outbound) -> bool:
    """True for a prompt answered by typing: a reflection, a short-answer or numeric question."""
    typed_question = message.kind == OutboundKind.QUIZ and not message.choices
    return message.kind == OutboundKind.REFLECTION or typed_question


def html_message(message: Outbound) -> HtmlMessage:
    """The message as HTML with its buttons, or a ForceReply when it asks for typing."""
    markup: Markup | None = keyboard(message)
    if markup is None and wants_reply(message):
        markup = ForceReply(input_field_placeholder="Type your answer")
    return HtmlMessage(telegram_message(message), markup)


def quiz_poll(message: Outbound) -> QuizPoll | None:
    """The message as a native quiz poll, or None when it is not a single-choice question
    or does not fit a poll (a longer explanation is left to the feedback message).
    """
    key = message.quiz_key
    if key is None or message.delivery_id is None or not message.choices:
        return None
    question = plain_text("\n".join(spans_markdown(section) for section in message.sections))
    ids = [choice.choice_id for choice in message.choices]
    if (
        not question
        or len(question) > POLL_QUESTION_CHARS
        or len(ids) > POLL_OPTIONS_MAX
        or any(len(choice.label) > POLL_OPTION_CHARS for choice in message.choices)
        or not key.correct
        or any(choice_id not in ids for choice_id in key.correct)
    ):
        return None
    explanation = plain_text(key.explanation).strip()
    fits = len(explanation) <= POLL_EXPLANATION_CHARS
    fits = fits and explanation.count("\n") < POLL_EXPLANATION_LINES
    return QuizPoll(
        question=question,
        options=tuple(InputPollOption(choice.label) for choice in message.choices),
        correct=tuple(ids.index(choice_id) for choice_id in key.correct),
        explanation=explanation if explanation and fits else None,
    )
