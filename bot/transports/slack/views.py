"""The modals the bot opens: a typed answer, a reflection, a coach's message or note, settings.

Each modal's `callback_id` is the action that opened it; `private_metadata`
holds the outbox row or case it is about. Its one or two inputs come back in
`view.state.values[block_id][action_id]`.
"""

from __future__ import annotations

from typing import Any

from bot.transports.slack.blocks import MESSAGE, REFLECT, RESOLVE, SETTINGS, TYPED

INPUT = "input"  # the action_id of every text input

_MODALS: dict[str, tuple[str, str, str, bool, bool]] = {
    # callback: (title ≤ 24, input label, submit, multiline, optional)
    TYPED: ("Your answer", "Type your answer", "Answer", False, False),
    REFLECT: ("Reflection", "What will you do differently?", "Save", True, False),
    MESSAGE: (
        "Message learner",
        "Your message (the learner sees it as written)",
        "Send",
        True,
        False,
    ),
    RESOLVE: ("Resolve case", "A note for the record", "Resolve", True, True),
}
TIME_BLOCK, ZONE_BLOCK = "time", "timezone"


def _text_input(
    block_id: str, label: str, *, multiline: bool, optional: bool, initial: str = ""
) -> dict[str, Any]:
    """An input block holding one plain-text input."""
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": INPUT,
        "multiline": multiline,
    }
    if initial:
        element["initial_value"] = initial
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "element": element,
    }


def _modal(callback: str, title: str, submit: str, blocks: list[dict[str, Any]], meta: str) -> Any:
    """A modal view."""
    return {
        "type": "modal",
        "callback_id": callback,
        "private_metadata": meta,
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": submit},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def text_modal(callback: str, about: str) -> dict[str, Any]:
    """The one-input modal opened by `callback`'s button, about row or case `about`."""
    title, label, submit, multiline, optional = _MODALS[callback]
    block = _text_input(INPUT, label, multiline=multiline, optional=optional)
    return _modal(callback, title, submit, [block], about)


def settings_modal(*, send_time: str, timezone: str) -> dict[str, Any]:
    """The send time and timezone modal of the App Home."""
    blocks = [
        _text_input(
            TIME_BLOCK, "Lesson time (HH:MM)", multiline=False, optional=True, initial=send_time
        ),
        _text_input(
            ZONE_BLOCK,
            "Timezone (e.g. Europe/Paris)",
            multiline=False,
            optional=True,
            initial=timezone,
        ),
    ]
    return _modal(SETTINGS, "Lesson settings", "Save", blocks, "")


def submitted(view: dict[str, Any], block_id: str = INPUT) -> str:
    """The text typed into one input of a submitted view ("" when left empty)."""
    value: Any = view
    for key in ("state", "values", block_id, INPUT, "value"):
        value = value.get(key) if isinstance(value, dict) else None
    return value.strip() if isinstance(value, str) else ""
