"""What a Telegram send costs the process: no import is tried, and fails, on every call.

httpcore imports `sniffio` on every request; without it installed, each of those
imports searches the whole path and fails, about a third of a send's CPU.
"""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

from bot.messages import Outbound, OutboundKind
from bot.transports.telegram import TelegramTransport
from tests.fakes.telegram_api import FakeTelegram


class LastFinder(MetaPathFinder):
    """Placed last on the import path: it hears only of imports nothing could satisfy."""

    def __init__(self) -> None:
        self.missed: list[str] = []

    def find_spec(
        self, fullname: str, path: Any, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        """Note the name; find nothing."""
        self.missed.append(fullname)
        return None


async def test_sending_tries_no_import_that_fails(fake_telegram: FakeTelegram):
    transport = TelegramTransport(token=fake_telegram.token, base_url=fake_telegram.base_url)
    await transport.start(None)
    message = Outbound(OutboundKind.NOTICE, "hello")
    await transport.send("telegram:4242", message)  # what a first send imports, it imports once
    last = LastFinder()
    sys.meta_path.append(last)
    try:
        for _ in range(3):
            await transport.send("telegram:4242", message)
    finally:
        sys.meta_path.remove(last)
        await transport.stop()
    assert [m.text for m in fake_telegram.to(4242)] == ["hello"] * 4
    assert last.missed == []
