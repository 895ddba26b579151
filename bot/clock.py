"""Injectable clocks: real time in `run`, simulated time in tests and the demo."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol


class Clock(Protocol):
    """Tells the time and waits; tick functions and retry waits use nothing else."""

    def now(self) -> datetime:
        """The current aware UTC time."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """The current aware UTC time."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """Really wait."""
        await asyncio.sleep(seconds)


class SimulatedClock:
    """A clock that only moves when told to; `sleep` advances it at once."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs an aware start time")
        self._now = start.astimezone(UTC)
        self.slept: list[float] = []

    def now(self) -> datetime:
        """The simulated time."""
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Move time forward by `delta`."""
        self._now += delta

    def set(self, moment: datetime) -> None:
        """Jump to `moment` (aware)."""
        self._now = moment.astimezone(UTC)

    def sleep(self, seconds: float) -> Coroutine[Any, Any, None]:
        """Record the wait; awaiting it advances time to its end instead of waiting.

        The end is fixed when the wait is asked for, so waits that overlap end
        when real ones would, instead of adding up.
        """
        self.slept.append(seconds)
        return self._advance_to(self._now + timedelta(seconds=seconds))

    async def _advance_to(self, moment: datetime) -> None:
        """Move time forward to `moment`, unless it is already later."""
        self._now = max(self._now, moment)
