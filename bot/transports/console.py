"""The console transport: messages printed as text, for `demo`, `shell` and tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from bot.messages import Outbound, SentRef
from bot.transports import InboundSink


@dataclass(frozen=True, slots=True)
class ConsoleMessage:
    """One message the console transport sent or edited."""

    address: str
    outbound: Outbound
    ref: SentRef
    edited: bool = False


def render_text(outbound: Outbound) -> str:
    """An outbound message as plain terminal text, choices numbered from 1."""
    lines = [outbound.text]
    lines += [f"  [{number}] {choice.label}" for number, choice in enumerate(outbound.choices, 1)]
    return "\n".join(lines)


class ConsoleTransport:
    """Implements the Transport Protocol by writing to a callable and keeping a log."""

    platform = "console"

    def __init__(self, *, write: Callable[[str], None] | None = None) -> None:
        self._write = write
        self._ids = itertools.count(1)
        self.sent: list[ConsoleMessage] = []
        self.sink: InboundSink | None = None
        self.running = False

    async def start(self) -> None:
        """Nothing to connect to."""
        self.running = True

    async def stop(self) -> None:
        """Nothing to release."""
        self.running = False

    async def send(self, address: str, outbound: Outbound) -> SentRef:
        """Record and print one message."""
        ref = SentRef(address=address, message_id=str(next(self._ids)))
        self.sent.append(ConsoleMessage(address, outbound, ref))
        if self._write is not None:
            self._write(f"→ {address}\n{render_text(outbound)}")
        return ref

    async def edit(self, ref: SentRef, outbound: Outbound) -> None:
        """Record and print the new version of a message."""
        self.sent.append(ConsoleMessage(ref.address, outbound, ref, edited=True))
        if self._write is not None:
            self._write(f"✎ {ref.address} (message {ref.message_id})\n{render_text(outbound)}")

    def to(self, address: str) -> list[Outbound]:
        """Everything sent (not edited) to one address, oldest first."""
        return [m.outbound for m in self.sent if m.address == address and not m.edited]
