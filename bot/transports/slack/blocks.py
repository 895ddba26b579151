"""Neutral messages as Block Kit, and the ids the buttons carry back.

Every interactive element's `action_id` starts with `sc.` and names what it
does; its `value` names the outbox row (a quiz, a reflection prompt) or the
case it belongs to. Single-choice and true/false choices are buttons; a
multiple-choice item (its choices end with `done`) is checkboxes with a submit
button (the `done` choice's label); a quiz without choices (short answer,
numeric) gets an Answer button that opens a modal, a reflection prompt a
"Write a reflection" button; a case card claimed (Resolve without Claim)
gets "Message learner" beside Resolve.
Edits never add these buttons: an edited quiz is an answered one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.messages import Choice, Outbound, OutboundKind
from bot.transports.escaping import slack_blocks, slack_mrkdwn
from content.limits import SLACK_BUTTON_TEXT

CHOICE = "sc.choice:"  # + choice id; value: the delivery id
PICKS = "sc.picks"  # the checkboxes of a multiple-choice item
SUBMIT = "sc.submit"  # value: the delivery id
TYPED = "sc.typed"  # opens the answer modal; value: the delivery id
REFLECT = "sc.reflect"  # opens the reflection modal; value: the delivery id
MESSAGE = "sc.message"  # opens the message-learner modal; value: the case id
RESOLVE = "sc.resolve"  # opens the resolve modal; value: the case id
COMMAND = "sc.command:"  # + a learner command, from the App Home
SETTINGS = "sc.settings"  # opens the send time and timezone modal (App Home)

DONE = "done"


def _button(text: str, action_id: str, value: str, *, style: str = "") -> dict[str, Any]:
    """A button element."""
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _case_buttons(choices: tuple[Choice, ...], row: str) -> list[dict[str, Any]] | None:
    """Claim / Message learner / Resolve under a case card; None if these are not case buttons."""
    by_action = {c.choice_id.split(":")[0]: c for c in choices if ":" in c.choice_id}
    if set(by_action) - {"claim", "resolve"} or len(by_action) != len(choices) or not choices:
        return None
    buttons: list[dict[str, Any]] = []
    claim = by_action.get("claim")
    if claim is not None:
        buttons.append(_button(claim.label, CHOICE + claim.choice_id, row, style="primary"))
    resolve = by_action.get("resolve")
    if resolve is not None:
        case_id = resolve.choice_id.split(":")[1]
        if claim is None:
            buttons.append(_button("Message learner", MESSAGE, case_id, style="primary"))
        buttons.append(_button(resolve.label, RESOLVE, case_id))
    return buttons


def _lettered(choices: tuple[Choice, ...]) -> tuple[tuple[Choice, ...], list[dict[str, Any]]]:
    """Choices too long for a button (S16) as a lettered list, their buttons A, B, C…

    Packs allow longer choices than Slack's buttons (Telegram's poll options), and
    nothing is cut: the list shows each in full. Short choices stay as they are.
    """
    if all(len(choice.label) <= SLACK_BUTTON_TEXT for choice in choices):
        return choices, []
    letters = [chr(ord("A") + index) for index in range(len(choices))]
    lines = "\n".join(
        f"*{letter}.* {slack_mrkdwn((choice.label,))}"
        for letter, choice in zip(letters, choices, strict=True)
    )
    section = {"type": "section", "text": {"type": "mrkdwn", "text": lines}}
    lettered = tuple(
        Choice(c.choice_id, letter) for letter, c in zip(letters, choices, strict=True)
    )
    return lettered, [section]


def _interactive(message: Outbound, *, fresh: bool) -> list[dict[str, Any]]:
    """The blocks that carry the message's buttons (none on a message without any)."""
    row = "" if message.delivery_id is None else str(message.delivery_id)
    choices = message.choices
    case_buttons = _case_buttons(choices, row) if message.kind == OutboundKind.ESCALATION else None
    if case_buttons is not None:
        return [{"type": "actions", "elements": case_buttons}]
    done = choices[-1:] if choices and choices[-1].choice_id == DONE else ()
    shown, listed = _lettered(choices[: len(choices) - len(done)])
    return listed + _choice_blocks(message, (*shown, *done), row, fresh=fresh)


def _choice_blocks(
    message: Outbound, choices: tuple[Choice, ...], row: str, *, fresh: bool
) -> list[dict[str, Any]]:
    """Buttons, checkboxes with their submit button, or the button that opens a modal."""
    if choices and choices[-1].choice_id == DONE:
        options = [
            {"text": {"type": "plain_text", "text": c.label}, "value": c.choice_id}
            for c in choices[:-1]
        ]
        return [
            {
                "type": "actions",
                "block_id": PICKS,
                "elements": [
                    {"type": "checkboxes", "action_id": PICKS, "options": options},
                    _button(choices[-1].label, SUBMIT, row, style="primary"),
                ],
            }
        ]
    if choices:
        buttons = [_button(c.label, CHOICE + c.choice_id, row) for c in choices]
        return [{"type": "actions", "elements": buttons}]
    if fresh and row and message.kind == OutboundKind.QUIZ:
        return [{"type": "actions", "elements": [_button("Answer", TYPED, row, style="primary")]}]
    if fresh and row and message.kind == OutboundKind.REFLECTION:
        button = _button("Write a reflection", REFLECT, row, style="primary")
        return [{"type": "actions", "elements": [button]}]
    return []


def message_blocks(message: Outbound, *, fresh: bool = True) -> list[dict[str, Any]]:
    """The message as Block Kit: header, sections, context, then its buttons.

    `fresh` is False for an edit: an answered quiz or reflection gets no new button.
    """
    return slack_blocks(replace(message, choices=())) + _interactive(message, fresh=fresh)


def fallback_text(message: Outbound) -> str:
    """The message's `text` for notifications and screen readers (Slack mrkdwn)."""
    parts = (message.title, *message.sections, message.context)
    return "\n".join(slack_mrkdwn(part) for part in parts if part)


def ephemeral_text(text: str) -> str:
    """Bot Markdown for an answer in place."""
    return slack_mrkdwn((text,))
