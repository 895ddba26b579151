"""Slack Web API failures as the typed errors of `bot.ports`.

Our own credentials refused (an app uninstalled, a revoked token) stop the
platform (`TransportDown`) and mark nobody; a person who is gone
(`user_not_found`, `user_disabled`, …) is `RecipientGone`; 429 and `ratelimited`
are `RateLimited` with Slack's `Retry-After`; 5xx, Slack's own trouble and the
network are `TransientError`; anything else Slack refuses is `PermanentError`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.ports import (
    PermanentError,
    RateLimited,
    RecipientGone,
    TransientError,
    TransportDown,
    TransportError,
)

T = TypeVar("T")

CREDENTIALS_REFUSED = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "not_allowed_token_type",
        "team_access_not_granted",
        "ekm_access_denied",
    }
)
RECIPIENT_GONE = frozenset(
    {
        "user_not_found",
        "user_disabled",
        "user_not_visible",
        "channel_not_found",
        "is_archived",
        "is_inactive",
        "cannot_dm_bot",
        "messages_tab_disabled",
        "users_not_found",
    }
)
RATE_LIMITED = frozenset({"ratelimited", "rate_limited", "message_limit_exceeded"})
SLACK_TROUBLE = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
DEFAULT_RETRY_AFTER = 1.0  # seconds, when a 429 names no wait


def _retry_after(exc: SlackApiError) -> float:
    """Seconds Slack asked us to wait (its Retry-After header)."""
    headers = exc.response.headers or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(float(value), 0.0) if value is not None else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER


def api_error(exc: SlackApiError) -> TransportError:
    """The typed error for a failed Web API call."""
    status = exc.response.status_code
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    error = str(data.get("error") or f"HTTP {status}")
    if status == 429 or error in RATE_LIMITED:
        return RateLimited(_retry_after(exc))
    if status >= 500 or error in SLACK_TROUBLE:
        return TransientError(f"Slack answered {error}")
    if error in CREDENTIALS_REFUSED:
        return TransportDown(f"Slack refused our token: {error}")
    if error in RECIPIENT_GONE:
        return RecipientGone(error)
    return PermanentError(error)


async def calling(call: Awaitable[T]) -> T:
    """Await one Slack call; its failure as a `TransportError`."""
    try:
        return await call
    except SlackApiError as exc:
        raise api_error(exc) from exc
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise TransientError(f"cannot reach Slack: {type(exc).__name__}: {exc}") from exc
