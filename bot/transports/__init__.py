"""Chat platform transports; the Protocol and errors they share live in `bot.ports`."""

from bot.ports import (
    InboundSink,
    RateLimited,
    RecipientGone,
    TransientError,
    Transport,
    TransportDown,
    TransportError,
)

__all__ = [
    "InboundSink",
    "RateLimited",
    "RecipientGone",
    "TransientError",
    "Transport",
    "TransportDown",
    "TransportError",
]
