"""Helpers shared by CLI commands."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from pydantic import ValidationError

from bot.config import Settings
from bot.errors import UserError
from bot.transports import TransportDown

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion from a synchronous Typer command."""
    return asyncio.run(coro)


def settings() -> Settings:
    """Read the settings once for this command; a bad value is one clear line."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']).upper()}: "
            + error["msg"].removeprefix("Value error, ")
            for error in exc.errors()
        )
        raise UserError(f"bad setting: {problems}") from None


def telegram_bot_name(config: Settings) -> str | None:
    """The Telegram bot's username (`getMe`) when a bot is configured; a bad token is one line."""
    if not config.telegram_bot_token:
        return None
    from bot.transports.telegram import TelegramTransport  # only when a bot is set: start-up

    transport = TelegramTransport(
        token=config.telegram_bot_token, base_url=config.telegram_api_base_url
    )

    async def _username() -> str:
        try:
            return await transport.connect()
        except TransportDown as exc:
            raise UserError(f"telegram: {exc}") from None
        finally:
            await transport.stop()

    return run(_username())
