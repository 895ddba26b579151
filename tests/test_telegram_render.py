"""How neutral messages become Telegram messages: polls where they fit, else buttons;
ForceReply for typed answers; button data within 64 bytes.
"""

from __future__ import annotations

import pytest
from telegram import ForceReply, InlineKeyboardMarkup

from bot.messages import Choice, Outbound, OutboundKind, QuizKey, UserText
from bot.ports import PermanentError
from bot.transports.telegram.render import html_message, parse_callback_data, quiz_poll

CHOICES = (Choice("c0", "Transfer at once"), Choice("c1", "Say who it is"))


def quiz(
    *, prompt: str = "What first?", choices=CHOICES, explanation: str = "Because."
) -> Outbound:
    return Outbound(
        kind=OutboundKind.QUIZ,
        sections=((f"❓ *Quiz*\n{prompt}",),),
        choices=choices,
        delivery_id=12,
        quiz_key=QuizKey(correct=("c1",), explanation=explanation),
    )


def test_a_single_choice_question_that_fits_is_a_quiz_poll():
    poll = quiz_poll(quiz())
    assert poll is not None
    assert poll.question == "❓ Quiz\nWhat first?"
    assert [option.text for option in poll.options] == ["Transfer at once", "Say who it is"]
    assert (poll.correct, poll.explanation) == ((1,), "Because.")


@pytest.mark.parametrize(
    "message",
    [
        quiz(prompt="x" * 300),  # the question with its heading is over 300 characters
        quiz(choices=(Choice("c0", "a" * 101), Choice("c1", "b"))),  # an option over 100
        quiz(choices=tuple(Choice(f"c{i}", str(i)) for i in range(13))),  # over 12 options
    ],
)
def test_a_question_too_big_for_a_poll_goes_as_buttons(message):
    assert quiz_poll(message) is None
    markup = html_message(message).markup
    assert isinstance(markup, InlineKeyboardMarkup)
    data = [button.callback_data for row in markup.inline_keyboard for button in row]
    assert data[:2] == ["12:c0", "12:c1"]


def test_a_long_explanation_is_left_to_the_feedback_message():
    poll = quiz_poll(quiz(explanation="why " * 60))
    assert poll is not None and poll.explanation is None


def test_typed_answers_and_reflections_ask_for_a_reply_and_user_text_is_escaped():
    typed = Outbound(kind=OutboundKind.QUIZ, text="How many rings?", delivery_id=3)
    reflection = Outbound(
        kind=OutboundKind.REFLECTION, sections=(("From ", UserText("<Ada & co>")),), delivery_id=4
    )
    assert isinstance(html_message(typed).markup, ForceReply)
    rendered = html_message(reflection)
    assert isinstance(rendered.markup, ForceReply)
    assert rendered.html == "From &lt;Ada &amp; co&gt;"


def test_short_buttons_share_a_row_and_button_data_round_trips():
    message = Outbound(
        kind=OutboundKind.QUIZ,
        text="True?",
        choices=(Choice("true", "True"), Choice("false", "False")),
        delivery_id=123456789,
    )
    markup = html_message(message).markup
    assert isinstance(markup, InlineKeyboardMarkup) and len(markup.inline_keyboard) == 1
    assert parse_callback_data(markup.inline_keyboard[0][1].callback_data) == (123456789, "false")
    assert parse_callback_data("not-ours") is None


def test_button_data_over_64_bytes_is_refused_not_cut():
    message = Outbound(
        kind=OutboundKind.NOTICE, text="Pick", choices=(Choice("x" * 60, "X"),), delivery_id=99999
    )
    with pytest.raises(PermanentError, match="64 bytes"):
        html_message(message)
