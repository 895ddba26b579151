"""Slack: slack-bolt's AsyncApp receives, slack_sdk's AsyncWebClient sends (see `transport`)."""

from bot.transports.slack.transport import SlackTransport, slash_help

__all__ = ["SlackTransport", "slash_help"]
