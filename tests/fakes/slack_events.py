"""What Slack sends an app, in the shapes Slack uses, signed with the app's signing secret.

Interactivity (`block_actions`, `view_submission`) comes form-encoded as one
`payload` field of JSON; slash commands as plain form fields; Events API
deliveries (`event_callback`) as JSON. Each request is signed `v0=` + the hex
HMAC-SHA256 of `v0:{timestamp}:{body}`.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from tests.fakes.slack_api import BOT_USER, TEAM

SIGNING_SECRET = "fakesigningsecret0123456789"
APP_ID = "A0FAKEAPP1"
_serial = itertools.count(1)


def _next() -> int:
    """A fresh number for ids and timestamps."""
    return next(_serial)


def signed(
    body: str, *, secret: str = SIGNING_SECRET, age: float = 0.0, content_type: str
) -> dict[str, str]:
    """The headers Slack sends with `body`: its timestamp (now − `age`) and signature."""
    timestamp = str(int(time.time() - age))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": str(signature),
    }


def form(fields: dict[str, str]) -> tuple[str, str]:
    """A form-encoded body and its content type."""
    return urlencode(fields), "application/x-www-form-urlencoded"


def interaction(payload: dict[str, Any]) -> tuple[str, str]:
    """An interactivity request body: the payload as JSON in one form field."""
    return form({"payload": json.dumps(payload)})


def event(inner: dict[str, Any], *, event_id: str | None = None) -> tuple[str, str]:
    """An Events API delivery (`event_callback`) wrapping one event."""
    envelope = {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "context_team_id": TEAM,
        "api_app_id": APP_ID,
        "event": inner,
        "type": "event_callback",
        "event_id": event_id or f"Ev{_next():08d}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM,
                "user_id": BOT_USER,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-eyJldCI6Im1lc3NhZ2Ui{_next()}",
    }
    return json.dumps(envelope), "application/json"


def _user(user_id: str) -> dict[str, Any]:
    """The `user` object of an interaction payload."""
    return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": TEAM}


def _team() -> dict[str, Any]:
    return {"id": TEAM, "domain": "fake"}


def block_actions(
    user_id: str,
    *,
    message: dict[str, Any],
    channel: str,
    action: dict[str, Any],
    response_url: str,
    values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A button pressed (or checkbox ticked) under a message in a DM, or on the App Home
    (`message` is then the published Home view)."""
    number = _next()
    pressed = {
        **action,
        "block_id": action.get("block_id", f"b{number}"),
        "action_ts": f"{int(time.time())}.{number:06d}",
    }
    common = {
        "type": "block_actions",
        "user": _user(user_id),
        "api_app_id": APP_ID,
        "token": "legacy-verification-token",
        "trigger_id": f"{number}.{number}.trigger{number:08x}",
        "team": _team(),
        "enterprise": None,
        "is_enterprise_install": False,
        "state": {"values": values or {}},
        "actions": [pressed],
    }
    if message.get("type") == "home":  # a button on the App Home: no message, no response_url
        view = {"id": message.get("id", "V0HOME"), "team_id": TEAM, **message}
        return {**common, "container": {"type": "view", "view_id": view["id"]}, "view": view}
    return {
        **common,
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "channel": {"id": channel, "name": "directmessage"},
        "message": {"type": "message", "user": BOT_USER, "bot_id": "B0FAKE001", **message},
        "response_url": response_url,
    }


def view_submission(
    user_id: str, view: dict[str, Any], values: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """A modal submitted: `values` are {block_id: {action_id: typed text}}."""
    number = _next()
    state = {
        block: {
            action: {"type": "plain_text_input", "value": typed} for action, typed in fields.items()
        }
        for block, fields in values.items()
    }
    return {
        "type": "view_submission",
        "team": _team(),
        "user": _user(user_id),
        "api_app_id": APP_ID,
        "token": "legacy-verification-token",
        "trigger_id": f"{number}.{number}.trigger{number:08x}",
        "view": {
            "id": view.get("id", f"V{number:08d}"),
            "team_id": TEAM,
            "app_id": APP_ID,
            "bot_id": "B0FAKE001",
            "hash": f"{number}.hash",
            "state": {"values": state},
            **{k: v for k, v in view.items() if k != "id"},
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def dm(user_id: str, text: str) -> dict[str, Any]:
    """A `message.im` event: a person writes to the bot in their DM."""
    number = _next()
    ts = f"{int(time.time())}.{number:06d}"
    return {
        "type": "message",
        "channel": "D" + user_id[1:],
        "user": user_id,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "im",
        "client_msg_id": f"00000000-0000-0000-0000-{number:012d}",
        "team": TEAM,
    }


def home_opened(user_id: str) -> dict[str, Any]:
    """An `app_home_opened` event on the Home tab."""
    return {
        "type": "app_home_opened",
        "user": user_id,
        "channel": "D" + user_id[1:],
        "tab": "home",
        "event_ts": f"{int(time.time())}.{_next():06d}",
    }


def slash(user_id: str, text: str, *, response_url: str, channel: str = "") -> tuple[str, str]:
    """`/coach TEXT` typed by a person in their DM with the app, or in `channel`."""
    number = _next()
    return form(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM,
            "team_domain": "fake",
            "channel_id": channel or "D" + user_id[1:],
            "channel_name": "general" if channel else "directmessage",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": "/coach",
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"{number}.{number}.trigger{number:08x}",
        }
    )
