"""Slack payloads (block actions, view submissions, DM events, slash commands) as `Inbound`.

Pure functions of the payload bolt hands a listener. Event ids: an Events API
delivery keeps its `event_id` (so Slack's retries are the same event); an
interaction is named by its `trigger_id`; a submitted modal by its view id (a
modal is submitted once). A payload that is not one of Slack's shapes (no valid user id,
fields of the wrong type) gives no event.
"""

from __future__ import annotations

import re
from typing import Any

from bot.messages import Answer, CoachAction, Command, Inbound, InteractionRef, Text, row_id
from bot.transports.slack import blocks as ids
from bot.transports.slack.views import TIME_BLOCK, ZONE_BLOCK, submitted

PLATFORM = "slack"
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")
_URL = re.compile(r"https?://\S+")


def mapping(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def user_id(value: Any) -> str | None:
    """`value` when it is a Slack user id (`U0123ABCD`), else None."""
    return value if isinstance(value, str) and _USER_ID.fullmatch(value) else None


def first_action(body: dict[str, Any]) -> dict[str, Any]:
    """The action an interaction carries (empty when it carries none)."""
    actions = body.get("actions")
    return mapping(actions[0]) if isinstance(actions, list) and actions else {}


# The JSON types of the fields bolt reads before any listener runs (None: may be null).
_SHAPES: dict[str, tuple[type, ...]] = {
    "event": (dict,),
    "view": (dict,),
    "actions": (list,),
    "authorizations": (list,),
    "user": (dict, str, type(None)),
    "team": (dict, str, type(None)),
    "enterprise": (dict, str, type(None)),
    "channel": (dict, str, type(None)),
    "container": (dict, type(None)),
    "message": (dict, type(None)),
    "state": (dict, type(None)),
}
_EVENT_SHAPES: dict[str, tuple[type, ...]] = {
    "type": (str,),
    "message": (dict, type(None)),
    "previous_message": (dict, type(None)),
}


def _typed(value: dict[str, Any], shapes: dict[str, tuple[type, ...]]) -> bool:
    """Every field of `value` named in `shapes` has one of its types."""
    return all(isinstance(value[key], kinds) for key, kinds in shapes.items() if key in value)


def well_formed(body: Any) -> bool:
    """True if a request body has Slack's shape where bolt reads it (so bolt can route it)."""
    if not isinstance(body, dict) or not _typed(body, _SHAPES):
        return False
    if body.get("actions") == []:
        return False
    lists = [body.get("actions") or [{}], body.get("authorizations") or [{}]]
    if not all(isinstance(entry, dict) for entries in lists for entry in entries):
        return False
    return _typed(body.get("event", {}), _EVENT_SHAPES)


def address(user_id: str) -> str:
    """A Slack user's address (`slack:U…`)."""
    return f"{PLATFORM}:{user_id}"


def _interaction(
    body: dict[str, Any], user: str, *, replies: bool = False
) -> InteractionRef | None:
    """The interaction's `response_url`, to answer it in place (with `replies`, reply too)."""
    url = body.get("response_url")
    if not isinstance(url, str) or not _URL.fullmatch(url):
        return None
    return InteractionRef(address(user), url, replies)


def _event_id(body: dict[str, Any]) -> str:
    """An interaction's id: its trigger id (else when and which action)."""
    if body.get("trigger_id"):
        return f"trigger:{body['trigger_id']}"
    user = user_id(mapping(body.get("user")).get("id"))
    return f"action:{user}:{first_action(body).get('action_ts', '')}"


def _picks(body: dict[str, Any]) -> tuple[str, ...]:
    """The options ticked in the message's checkboxes when Submit was pressed."""
    values = mapping(mapping(body.get("state")).get("values"))
    picked = mapping(mapping(values.get(ids.PICKS)).get(ids.PICKS)).get("selected_options")
    options = picked if isinstance(picked, list) else []
    return tuple(str(option["value"]) for option in options if "value" in mapping(option))


def action_inbound(body: dict[str, Any]) -> Inbound | None:
    """A choice button or a checkbox Submit under one of our messages; None for anything else."""
    action = first_action(body)
    action_id, user = str(action.get("action_id")), user_id(mapping(body.get("user")).get("id"))
    row = row_id(action.get("value"))
    if row is None or user is None:
        return None
    if action_id.startswith(ids.CHOICE):
        choice_ids: tuple[str, ...] = (action_id.removeprefix(ids.CHOICE),)
    elif action_id == ids.SUBMIT:
        choice_ids = (*_picks(body), ids.DONE)
    else:
        return None
    return Answer(address(user), _event_id(body), row, choice_ids, _interaction(body, user))


def command_button(body: dict[str, Any]) -> Command | None:
    """An App Home button running a learner command (`pause`, `resume`, `coach`)."""
    name = str(first_action(body).get("action_id")).removeprefix(ids.COMMAND)
    user = user_id(mapping(body.get("user")).get("id"))
    if user is None:
        return None
    return Command(address(user), _event_id(body), name, interaction=_interaction(body, user))


def view_inbound(body: dict[str, Any]) -> list[Inbound]:
    """What a submitted modal says: a typed answer, a reflection, a coach's message or note,
    or new settings (one command per field changed)."""
    view, user = mapping(body.get("view")), user_id(mapping(body.get("user")).get("id"))
    if user is None or not isinstance(view.get("id"), str) or not view["id"]:
        return []
    callback, about = str(view.get("callback_id")), row_id(view.get("private_metadata"))
    event_id, who = f"view:{view['id']}", address(user)
    if callback == ids.SETTINGS:
        wanted = [("time", submitted(view, TIME_BLOCK)), ("timezone", submitted(view, ZONE_BLOCK))]
        return [
            Command(who, f"{event_id}:{name}", name, tuple(value.split()))
            for name, value in wanted
            if value
        ]
    if about is None:
        return []
    text = submitted(view)
    if callback in (ids.TYPED, ids.REFLECT):
        return [Text(who, event_id, text, reply_to_delivery_id=about)]
    if callback in (ids.MESSAGE, ids.RESOLVE):
        action = "message" if callback == ids.MESSAGE else "resolve"
        return [CoachAction(who, event_id, about, action, text)]
    return []


def message_inbound(body: dict[str, Any]) -> Text | None:
    """A person's plain DM to the bot; None for edits, bots, threads elsewhere and the like."""
    event = mapping(body.get("event"))
    if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
        return None
    user, text = user_id(event.get("user")), str(event.get("text") or "").strip()
    if user is None or not text:
        return None
    return Text(address(user), str(body.get("event_id") or event.get("ts")), text)


def slash_words(body: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """A slash command's subcommand and arguments (`/coach pause until …`); "" when none."""
    words = str(body.get("text") or "").split()
    return (words[0].casefold().lstrip("/"), tuple(words[1:])) if words else ("", ())


def slash_command(body: dict[str, Any], name: str, args: tuple[str, ...]) -> Command | None:
    """A `/coach` subcommand as a `Command` whose replies go back in place (ephemeral)."""
    user = user_id(body.get("user_id"))
    if user is None:
        return None
    event_id = f"command:{body.get('trigger_id') or body.get('command_ts', '')}"
    return Command(address(user), event_id, name, args, _interaction(body, user, replies=True))
