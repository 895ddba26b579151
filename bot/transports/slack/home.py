"""The App Home tab: the learner's home card as a Home view with its buttons."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.conversation.home import HomeCard
from bot.transports.slack.blocks import COMMAND, SETTINGS, message_blocks

HomeSource = Callable[[str], Awaitable[HomeCard | None]]
"""The home card of the person at an address (None: not signed up)."""

STRANGER = "👋 I don't know you yet. Type `/coach join` to sign up for daily lessons."


def _button(text: str, action_id: str, value: str = "") -> dict[str, Any]:
    """A Home button."""
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "value": value,
    }


def home_view(card: HomeCard | None) -> dict[str, Any]:
    """The Home view: progress, next lesson, pause/resume, settings, Talk to a coach."""
    if card is None:
        stranger: dict[str, Any] = {"type": "mrkdwn", "text": STRANGER}
        return {"type": "home", "blocks": [{"type": "section", "text": stranger}]}
    pause = (
        _button("▶️ Resume", COMMAND + "resume")
        if card.paused
        else _button("⏸ Pause", COMMAND + "pause")
    )
    buttons = [
        pause,
        _button("🕘 Time and timezone", SETTINGS, f"{card.send_time} {card.timezone}"),
        _button("🙋 Talk to a coach", COMMAND + "coach"),
    ]
    blocks = [*message_blocks(card.summary), {"type": "actions", "elements": buttons}]
    return {"type": "home", "blocks": blocks}
