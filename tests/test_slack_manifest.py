"""The Slack app manifest asks for what the transport uses, and nothing it does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bot.transports.slack.transport import ROUTE, SLASH
from tests.test_slack_fake import SPECS

MANIFEST = Path(__file__).resolve().parents[1] / "deploy" / "slack-manifest.yaml"

# The bot scope each Web API method the bot calls needs (Slack's method reference, `scope.bot`).
METHOD_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "conversations.open": "im:write",
    "users.info": "users:read",
    "users.lookupByEmail": "users:read.email",
}
EVENT_SCOPES = {"message.im": "im:history", "app_home_opened": None}


def _manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text())


def test_the_manifest_names_the_events_route_the_command_and_the_home_tab():
    manifest = _manifest()
    settings, features = manifest["settings"], manifest["features"]
    assert settings["event_subscriptions"]["request_url"].endswith(ROUTE)
    assert settings["interactivity"]["request_url"].endswith(ROUTE)
    assert set(settings["event_subscriptions"]["bot_events"]) == set(EVENT_SCOPES)
    [command] = features["slash_commands"]
    assert command["command"] == SLASH and command["url"].endswith(ROUTE)
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["app_home"]["messages_tab_enabled"] is True
    assert features["app_home"]["messages_tab_read_only_enabled"] is False
    wanted = {*METHOD_SCOPES.values(), *filter(None, EVENT_SCOPES.values()), "commands"}
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == wanted


def test_the_scope_table_matches_slacks_method_and_event_reference():
    if SPECS is None:
        pytest.skip("the shared platform specs are not next to this repository")
    for method, scope in METHOD_SCOPES.items():
        spec = json.loads((SPECS / "slack" / f"{method}.json").read_text())
        assert scope in spec["scope"]["bot"], method
    for event, scope in EVENT_SCOPES.items():
        spec = json.loads((SPECS / "slack" / "events" / f"{event}.json").read_text())
        assert spec["scopes"] == ([scope] if scope else []), event
