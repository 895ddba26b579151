"""Telegram: python-telegram-bot's Application as a `bot.ports.Transport`."""

from bot.transports.telegram.transport import TelegramTransport

__all__ = ["TelegramTransport"]
