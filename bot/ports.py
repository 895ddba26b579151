"""The Transport Protocol every chat platform implements, and its typed errors.

The outbox and the conversation depend on this port, never on a transport itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.messages import Inbound, Outbound, SentRef

InboundSink = Callable[[Inbound], Awaitable[None]]


class Transport(Protocol):
    """What coaching code may ask of a chat platform."""

    platform: str

    async def start(self) -> None:
        """Connect and begin receiving events."""
        ...

    async def stop(self) -> None:
        """Stop receiving and release connections."""
        ...

    async def send(self, address: str, outbound: Outbound) -> SentRef:
        """Send one message; raise a `TransportError` subclass on failure."""
        ...

    async def edit(self, ref: SentRef, outbound: Outbound) -> None:
        """Replace a message already sent (e.g. remove answered buttons)."""
        ...


class TransportError(Exception):
    """Base for every failure a transport reports."""


class RecipientGone(TransportError):
    """The person blocked the bot or left; stop sending to them."""


class TransientError(TransportError):
    """Network trouble or a 5xx; retry with backoff."""


class TransportDown(TransportError):
    """Our own credentials fail; stop this platform and alert admins."""


class RateLimited(TransportError):
    """The platform asked us to wait `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry after {retry_after:g}s")
        self.retry_after = retry_after
