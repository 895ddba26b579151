"""The console transport: messages printed as text, for `demo`, `shell` and tests.

Messages use the Markdown subset of lesson packs (`*bold*`, `**bold**`, `_italic_`,
`` `code` ``, `-` list items). `markdown_text` turns it into Rich text: styled on a
terminal, and its `.plain` is the text without the markers, for anything else.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.text import Text

from bot.messages import InteractionRef, Outbound, SentRef, Spans, masked, unmasked
from bot.transports import InboundSink, SendPace

# A marker opens before a non-space and closes after one, never inside a word (New_York).
INLINE_MARKDOWN = re.compile(
    r"`(?P<code>[^`\n]+)`"
    r"|(?<![\w*])\*\*(?P<strong>[^\s*](?:[^\n]*?[^\s*])?)\*\*(?![\w*])"
    r"|(?<![\w*])\*(?P<bold>[^\s*](?:[^*\n]*?[^\s*])?)\*(?![\w*])"
    r"|(?<![\w_])_(?P<italic>[^\s_](?:[^_\n]*?[^\s_])?)_(?![\w_])"
)
_STYLES = {"code": "cyan", "strong": "bold", "bold": "bold", "italic": "italic"}
LIST_ITEM = re.compile(r"^(\s*)[-*] (?=\S)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ConsoleMessage:
    """One message the console transport sent or edited."""

    address: str
    outbound: Outbound
    ref: SentRef
    edited: bool = False


@dataclass(frozen=True, slots=True)
class ConsoleResponse:
    """One answer in place (ephemeral, or an alert) the console transport gave."""

    interaction: InteractionRef
    text: str
    alert: bool = False


def _inline(text: str, style: str) -> Text:
    """Text with its emphasis and code spans styled (nested emphasis adds up)."""
    styled = Text()
    position = 0
    for match in INLINE_MARKDOWN.finditer(text):
        styled.append(text[position : match.start()], style or None)
        kind = match.lastgroup or "code"
        inner, combined = match.group(kind), f"{style} {_STYLES[kind]}".strip()
        if kind == "code":
            styled.append(inner, combined)
        else:
            styled.append_text(_inline(inner, combined))
        position = match.end()
    styled.append(text[position:], style or None)
    return styled


def markdown_text(text: str) -> Text:
    """The Markdown subset as Rich text: markers become styles, list items get bullets."""
    return _inline(LIST_ITEM.sub(r"\1• ", text), "")


def plain_text(text: str) -> str:
    """The Markdown subset as plain text, without markers (for logs, transcripts, pipes)."""
    return markdown_text(text).plain


def spans_text(spans: Spans, style: str = "") -> Text:
    """Spans as Rich text: Markdown styled, user text exactly as typed (its markers unread)."""
    text, users = masked(spans)
    styled = markdown_text(text)
    styled.plain = unmasked(styled.plain, users, str)  # as long as the masks: styles stay put
    styled.stylize(style)
    return styled


def render_rich(outbound: Outbound) -> Text:
    """An outbound message as styled terminal text from its parts, choices numbered from 1."""
    message = Text()
    if outbound.title:
        message.append(f"{outbound.icon} " if outbound.icon else "")
        message.append_text(spans_text(outbound.title, "bold"))
        message.append("\n\n" if outbound.sections or outbound.context else "")
    body = [part for part in (*outbound.sections, outbound.context) if part]
    message.append_text(Text("\n").join(spans_text(part) for part in body))
    for number, choice in enumerate(outbound.choices, 1):
        message.append(f"\n  [{number}] {choice.label}")
    return message


def headed(header: str, body: Text) -> Text:
    """A dimmed header line above a message."""
    return Text.assemble((f"{header}\n", "dim"), body)


def print_styled(text: Text) -> None:
    """Print to stdout: styled on a terminal; plain, unwrapped text anywhere else."""
    console = Console(highlight=False)
    console.print(text, soft_wrap=not console.is_terminal)


class ConsoleTransport:
    """Implements the Transport Protocol by writing to a callable and keeping a log."""

    platform = "console"
    pace = SendPace()  # no platform-wide limit: only about one message a second per chat

    def __init__(self, *, write: Callable[[Text], None] | None = None) -> None:
        self._write = write
        self._ids = itertools.count(1)
        self.sent: list[ConsoleMessage] = []
        self.responses: list[ConsoleResponse] = []
        self.sink: InboundSink | None = None
        self.running = False

    async def start(self, sink: InboundSink | None) -> None:
        """Nothing to connect to; inbound events come from whoever holds `sink`."""
        self.sink = sink
        self.running = True

    async def health(self) -> str | None:
        """Live between `start` and `stop`."""
        return None if self.running else "not started"

    async def stop(self) -> None:
        """Nothing to release."""
        self.running = False

    async def send(self, address: str, outbound: Outbound) -> SentRef:
        """Record and print one message."""
        ref = SentRef(address=address, message_id=str(next(self._ids)))
        self.sent.append(ConsoleMessage(address, outbound, ref))
        if self._write is not None:
            self._write(headed(f"→ {address}", render_rich(outbound)))
        return ref

    async def edit(self, ref: SentRef, outbound: Outbound) -> None:
        """Record and print the new version of a message."""
        self.sent.append(ConsoleMessage(ref.address, outbound, ref, edited=True))
        if self._write is not None:
            header = f"✎ {ref.address} (message {ref.message_id})"
            self._write(headed(header, render_rich(outbound)))

    async def respond(self, interaction: InteractionRef, text: str, *, alert: bool = False) -> None:
        """Record and print an answer only the interaction's sender sees."""
        self.responses.append(ConsoleResponse(interaction, text, alert))
        if self._write is not None:
            header = f"{'⚠ alert' if alert else '👁 only you'} → {interaction.address}"
            self._write(headed(header, markdown_text(text)))

    def to(self, address: str) -> list[Outbound]:
        """Everything sent (not edited) to one address, oldest first."""
        return [m.outbound for m in self.sent if m.address == address and not m.edited]
