"""Helpers shared by CLI commands."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from bot.config import Settings

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion from a synchronous Typer command."""
    return asyncio.run(coro)


def settings() -> Settings:
    """Read the settings once for this command."""
    return Settings()
