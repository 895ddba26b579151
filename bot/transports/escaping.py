"""Text for Slack and Telegram: pack Markdown becomes markup, user text is escaped.

Slack mrkdwn treats only `&`, `<` and `>` as control characters (`<!channel>`,
`<@U123>`, `<url|label>`), so escaping those three is what its docs ask and
what stops a learner's text from pinging anyone; Slack has no escape for
`*` or `_`. Telegram's HTML parse mode needs the same three escaped
(`html.escape` without quotes). Telegram counts its 4096 characters after
entity parsing, Slack counts the escaped text, so `spans_length` in
`bot.messages` (the escaped length) is the measure for both.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from bot.messages import Outbound, Spans, masked, unmasked
from bot.transports.console import INLINE_MARKDOWN, LIST_ITEM

_SLACK_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def slack_escape(text: str) -> str:
    """Text shown as typed in Slack mrkdwn: `&`, `<`, `>` escaped, nothing else touched."""
    return text.translate(_SLACK_ESCAPES)


def telegram_escape(text: str) -> str:
    """Text shown as typed in Telegram HTML: `&`, `<`, `>` escaped."""
    return html.escape(text, quote=False)


def _convert(text: str, escape: Callable[[str], str], marks: dict[str, tuple[str, str]]) -> str:
    """Pack Markdown converted inline by inline: text escaped, markers swapped for `marks`."""
    out: list[str] = []
    position = 0
    for match in INLINE_MARKDOWN.finditer(text):
        out.append(escape(text[position : match.start()]))
        kind = match.lastgroup or "code"
        opening, closing = marks[kind]
        inner = match.group(kind)
        out.append(
            opening
            + (escape(inner) if kind == "code" else _convert(inner, escape, marks))
            + closing
        )
        position = match.end()
    out.append(escape(text[position:]))
    return "".join(out)


_SLACK_MARKS = {"code": ("`", "`"), "strong": ("*", "*"), "bold": ("*", "*"), "italic": ("_", "_")}
_TELEGRAM_MARKS = {
    "code": ("<code>", "</code>"),
    "strong": ("<b>", "</b>"),
    "bold": ("<b>", "</b>"),
    "italic": ("<i>", "</i>"),
}


def slack_mrkdwn(spans: Spans) -> str:
    """Spans as Slack mrkdwn: Markdown converted, user text escaped."""
    text, users = masked(spans)
    converted = _convert(LIST_ITEM.sub(r"\1• ", text), slack_escape, _SLACK_MARKS)
    return unmasked(converted, users, slack_escape)


def telegram_html(spans: Spans) -> str:
    """Spans as Telegram HTML: Markdown converted to tags, user text escaped."""
    text, users = masked(spans)
    converted = _convert(LIST_ITEM.sub(r"\1• ", text), telegram_escape, _TELEGRAM_MARKS)
    return unmasked(converted, users, telegram_escape)


def _plain(spans: Spans) -> str:
    """Spans without Markdown markers (a Slack header is plain text)."""
    text, users = masked(spans)
    return unmasked(_convert(text, str, {kind: ("", "") for kind in _SLACK_MARKS}), users, str)


def slack_blocks(message: Outbound) -> list[dict[str, Any]]:
    """The message as Block Kit: header, a section per part, context, buttons."""
    blocks: list[dict[str, Any]] = []
    if message.title:
        header = f"{message.icon} {_plain(message.title)}".lstrip()
        blocks.append({"type": "header", "text": {"type": "plain_text", "text": header}})
    blocks += [
        {"type": "section", "text": {"type": "mrkdwn", "text": slack_mrkdwn(part)}}
        for part in message.sections
        if part
    ]
    if message.context:
        text = {"type": "mrkdwn", "text": slack_mrkdwn(message.context)}
        blocks.append({"type": "context", "elements": [text]})
    if message.choices:
        buttons = [
            {
                "type": "button",
                "action_id": choice.choice_id,
                "text": {"type": "plain_text", "text": choice.label},
            }
            for choice in message.choices
        ]
        blocks.append({"type": "actions", "elements": buttons})
    return blocks


def telegram_message(message: Outbound) -> str:
    """The message as Telegram HTML text: bold header, sections, then the small print."""
    body = "\n".join(telegram_html(part) for part in (*message.sections, message.context) if part)
    if not message.title:
        return body
    header = f"{telegram_escape(message.icon)} <b>{telegram_html(message.title)}</b>".lstrip()
    return f"{header}\n\n{body}" if body else header
