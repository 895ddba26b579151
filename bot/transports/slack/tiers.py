"""Slack's Web API rate tiers: each method may be called so many times in any one minute.

Slack counts a method's calls per workspace and app in one-minute windows
(platform-limits S2, S3), so a burst within the allowance goes at once and the
call past it waits until the minute of the call it replaces is over. Waits are
on the injected clock; turns are booked before each wait, so callers waiting at
the same time get separate turns.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from bot.clock import Clock

MINUTE = timedelta(minutes=1)
TIER_3 = 50  # calls a minute (S3): users.lookupByEmail, conversations.open, chat.update (S2)


class TierLimit:
    """Turns for calls of one Web API method: at most `per_minute` in any minute."""

    def __init__(self, clock: Clock, *, per_minute: int) -> None:
        self._clock = clock
        self._turns: deque[datetime] = deque(maxlen=per_minute)  # the latest turns booked

    def book(self) -> datetime:
        """Book the first turn that keeps the method within its minute: when it comes."""
        now = self._clock.now()
        full = len(self._turns) == self._turns.maxlen
        turn = max(now, self._turns[0] + MINUTE) if full else now
        self._turns.append(turn)
        return turn

    async def wait_turn(self) -> None:
        """Wait until one more call keeps the method within its minute."""
        wait = (self.book() - self._clock.now()).total_seconds()
        if wait > 0:
            await self._clock.sleep(wait)
