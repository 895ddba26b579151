"""Slack payloads (block actions, view submissions, DM events, slash commands) as `Inbound`.

Pure functions of the payload bolt hands a listener. Event ids: an Events API
delivery keeps its `event_id` (so Slack's retries are the same event); an
interaction is named by its `trigger_id`; a submitted modal by its view id (a
modal is submitted once).
"""

from __future__ import annotations

from typing import Any

from bot.messages import Answer, CoachAction, Command, Inbound, InteractionRef, Text
from bot.transports.slack import blocks as ids
from bot.transports.slack.views import TIME_BLOCK, ZONE_BLOCK, submitted

PLATFORM = "slack"


def address(user_id: str) -> str:
    """A Slack user's address (`slack:U…`)."""
    return f"{PLATFORM}:{user_id}"


def _interaction(
    body: dict[str, Any], user: str, *, replies: bool = False
) -> InteractionRef | None:
    """The interaction's `response_url`, to answer it in place (with `replies`, reply too)."""
    url = body.get("response_url")
    return InteractionRef(address(user), str(url), replies) if url else None


def _event_id(body: dict[str, Any]) -> str:
    """An interaction's id: its trigger id (else when and which action)."""
    if body.get("trigger_id"):
        return f"trigger:{body['trigger_id']}"
    action = (body.get("actions") or [{}])[0]
    return f"action:{body['user']['id']}:{action.get('action_ts', '')}"


def _row(value: Any) -> int | None:
    """The outbox row id a button carries."""
    text = str(value or "")
    return int(text) if text.isdigit() else None


def _picks(body: dict[str, Any]) -> tuple[str, ...]:
    """The options ticked in the message's checkboxes when Submit was pressed."""
    values = body.get("state", {}).get("values", {})
    picked = values.get(ids.PICKS, {}).get(ids.PICKS, {}).get("selected_options") or []
    return tuple(str(option["value"]) for option in picked)


def action_inbound(body: dict[str, Any]) -> Inbound | None:
    """A choice button or a checkbox Submit under one of our messages; None for anything else."""
    action = body["actions"][0]
    action_id, user = str(action["action_id"]), str(body["user"]["id"])
    row = _row(action.get("value"))
    if row is None:
        return None
    if action_id.startswith(ids.CHOICE):
        choice_ids: tuple[str, ...] = (action_id.removeprefix(ids.CHOICE),)
    elif action_id == ids.SUBMIT:
        choice_ids = (*_picks(body), ids.DONE)
    else:
        return None
    return Answer(address(user), _event_id(body), row, choice_ids, _interaction(body, user))


def command_button(body: dict[str, Any]) -> Command:
    """An App Home button running a learner command (`pause`, `resume`, `coach`)."""
    action = body["actions"][0]
    name = str(action["action_id"]).removeprefix(ids.COMMAND)
    user = str(body["user"]["id"])
    return Command(address(user), _event_id(body), name, interaction=_interaction(body, user))


def view_inbound(body: dict[str, Any]) -> list[Inbound]:
    """What a submitted modal says: a typed answer, a reflection, a coach's message or note,
    or new settings (one command per field changed)."""
    view, user = body["view"], str(body["user"]["id"])
    callback, about = str(view.get("callback_id")), str(view.get("private_metadata", ""))
    event_id, who = f"view:{view['id']}", address(user)
    if callback == ids.SETTINGS:
        wanted = [("time", submitted(view, TIME_BLOCK)), ("timezone", submitted(view, ZONE_BLOCK))]
        return [
            Command(who, f"{event_id}:{name}", name, tuple(value.split()))
            for name, value in wanted
            if value
        ]
    if not about.isdigit():
        return []
    text = submitted(view)
    if callback in (ids.TYPED, ids.REFLECT):
        return [Text(who, event_id, text, reply_to_delivery_id=int(about))]
    if callback in (ids.MESSAGE, ids.RESOLVE):
        action = "message" if callback == ids.MESSAGE else "resolve"
        return [CoachAction(who, event_id, int(about), action, text)]
    return []


def message_inbound(body: dict[str, Any]) -> Text | None:
    """A person's plain DM to the bot; None for edits, bots, threads elsewhere and the like."""
    event = body.get("event", {})
    if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
        return None
    user, text = event.get("user"), str(event.get("text") or "").strip()
    if not user or not text:
        return None
    return Text(address(str(user)), str(body.get("event_id") or event.get("ts")), text)


def slash_words(body: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """A slash command's subcommand and arguments (`/coach pause until …`); "" when none."""
    words = str(body.get("text") or "").split()
    return (words[0].casefold().lstrip("/"), tuple(words[1:])) if words else ("", ())


def slash_command(body: dict[str, Any], name: str, args: tuple[str, ...]) -> Command:
    """A `/coach` subcommand as a `Command` whose replies go back in place (ephemeral)."""
    user = str(body["user_id"])
    event_id = f"command:{body.get('trigger_id') or body.get('command_ts', '')}"
    return Command(address(user), event_id, name, args, _interaction(body, user, replies=True))
