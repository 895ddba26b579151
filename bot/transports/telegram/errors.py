"""python-telegram-bot's errors as the transport errors of `bot.ports`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.ports import (
    PermanentError,
    RateLimited,
    RecipientGone,
    TransientError,
    TransportDown,
    TransportError,
)

# 400 descriptions that mean the person cannot be reached (the rest are our own bad requests).
_GONE = ("chat not found", "user not found", "user is deactivated", "peer_id_invalid")


def retry_seconds(error: RetryAfter) -> float:
    """The wait a `RetryAfter` asks for, in seconds: a timedelta (PTB's coming type, which
    `bot.config` opts in to) or a number of seconds (PTB's old type, when a deployment opts out)."""
    wait = error.retry_after
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)


def transport_error(error: TelegramError) -> TransportError:
    """The `bot.ports` error for a failed Bot API call (see the rules in `bot.ports`)."""
    text = error.message
    if isinstance(error, RetryAfter):
        return RateLimited(retry_seconds(error))
    if isinstance(error, InvalidToken):
        # PTB's own text repeats the token: never show it.
        return TransportDown("Telegram refused the bot token: check TELEGRAM_BOT_TOKEN")
    if isinstance(error, Forbidden):
        return RecipientGone(text)
    if isinstance(error, BadRequest):
        gone = any(marker in text.casefold() for marker in _GONE)
        return RecipientGone(text) if gone else PermanentError(text)
    if isinstance(error, NetworkError):  # 5xx, timeouts and dropped connections
        return TransientError(text)
    return PermanentError(text)


@contextmanager
def mapped_errors() -> Iterator[None]:
    """Raise Bot API failures inside as `bot.ports` errors."""
    try:
        yield
    except TelegramError as error:
        raise transport_error(error) from error
