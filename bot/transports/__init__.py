"""Chat platform transports; the Protocol and errors they share live in `bot.ports`."""

from bot.ports import (
    InboundSink,
    PermanentError,
    RateLimited,
    RecipientGone,
    SendPace,
    TransientError,
    Transport,
    TransportDown,
    TransportError,
)

__all__ = [
    "InboundSink",
    "PermanentError",
    "RateLimited",
    "RecipientGone",
    "SendPace",
    "TransientError",
    "Transport",
    "TransportDown",
    "TransportError",
]
