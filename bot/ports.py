"""The Transport Protocol every chat platform implements, and its typed errors.

The outbox and the conversation depend on this port, never on a transport itself.

Pacing and retries are decided once, outside the transports. The outbox
dispatcher paces every send with its platform's shared `bot.outbox.pacing.Pacer`
(a global rate and about one message a second per chat), so a transport sends
each call at once: no sleeping, no retry loop and no rate limiter of its own
(turn the client library's off). What a failed call must raise:

- 429, or a platform's "slow down" (Slack `rate_limited`, Telegram `RetryAfter`):
  `RateLimited(retry_after)`; the row is put back, due after that wait, and that
  chat's later rows wait behind it.
- 5xx, a timeout or a dropped connection: `TransientError`; the row is retried
  with a growing backoff until the learner's day ends.
- 401, or our credentials refused (Slack `invalid_auth`, `token_revoked`):
  `TransportDown`; the platform pauses, admins are alerted, nobody is marked.
- 403 or a recipient who is gone (Telegram "bot was blocked", "chat not found";
  Slack `user_not_found`, `channel_not_found`, `cannot_dm_bot`): `RecipientGone`;
  the person is marked unreachable and their queue is cancelled.
- Any other 4xx, a request the platform will never accept as it is (Slack
  `invalid_blocks`, `msg_too_long`; Telegram 400 "can't parse entities"):
  `PermanentError`; the row fails at once, never retried, and the person stays
  reachable.

Anything else a transport raises is treated as a bug: the row fails and the
traceback is logged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bot.messages import Inbound, InteractionRef, Outbound, SentRef

InboundSink = Callable[[Inbound], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SendPace:
    """How fast a platform may be sent to: seconds between any two sends, and per chat.

    A transport states its platform's; the outbox paces every send by it. Slack:
    about one message a second per channel under an unpublished workspace cap
    (10/s is safe); Telegram: about 30/s in all (keep to 29/s) and 1/s per chat.
    """

    interval: float = 0.0
    per_chat_interval: float = 1.0


class Transport(Protocol):
    """What coaching code may ask of a chat platform."""

    platform: str
    pace: SendPace

    async def start(self, sink: InboundSink | None) -> None:
        """Connect (fail fast with `TransportDown` on bad credentials); with a sink,
        begin receiving events and pass each one to it (None: send only, e.g. `deliver now`).

        A transport that receives over HTTP also offers `web_routes()` (see `bot.web`).
        """
        ...

    async def health(self) -> str | None:
        """None while connected and able to send, else one line saying why not."""
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

    async def respond(self, interaction: InteractionRef, text: str, *, alert: bool = False) -> None:
        """Answer an interaction in place: only its sender sees it, and nothing is stored.

        Slack posts an ephemeral message to the interaction's `response_url`;
        Telegram answers the callback query (`answerCallbackQuery`, a pop-up when
        `alert`), so a Telegram transport leaves the query unanswered until the
        router has handled the event, and answers it empty when nothing was said.
        `text` fits `content.limits.RESPOND_CHARS`, or one message (`MESSAGE_CHARS`) when the
        interaction takes `replies`. Raises `TransportError` subclasses.
        """
        ...


class TransportError(Exception):
    """Base for every failure a transport reports."""


class RecipientGone(TransportError):
    """The person blocked the bot or left; stop sending to them."""


class TransientError(TransportError):
    """Network trouble or a 5xx; retry with backoff."""


class TransportDown(TransportError):
    """Our own credentials fail; stop this platform and alert admins."""


class PermanentError(TransportError):
    """The platform rejected this message as a bad request; sending it again cannot help."""


class RateLimited(TransportError):
    """The platform asked us to wait `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry after {retry_after:g}s")
        self.retry_after = retry_after
