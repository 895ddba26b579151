"""Send pacing per platform: a global rate over all chats and an interval per chat.

One `Pacer` per platform, at the pace its transport states (`bot.ports.SendPace`),
is built with the runtime (`bot.app.build_runtime`) and shared by everything in
the process that sends on that platform, so two senders together keep the
platform's limits. A sender asks for its turn before each
call to the platform; turns are booked before the wait, so senders waiting at
the same time get separate turns. Waits are on the injected clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.clock import Clock
from bot.ports import Transport


class Pacer:
    """Turns to send on one platform: no two sends closer than `interval`, nor one chat's."""

    def __init__(self, clock: Clock, *, interval: float = 0.0, per_chat_interval: float) -> None:
        self._clock = clock
        self._interval = timedelta(seconds=interval)
        self._per_chat_interval = timedelta(seconds=per_chat_interval)
        self._next: datetime | None = None
        self._next_in_chat: dict[str, datetime] = {}

    @classmethod
    def for_transport(cls, transport: Transport, clock: Clock) -> Pacer:
        """A pacer keeping the pace the transport states for its platform."""
        pace = transport.pace
        return cls(clock, interval=pace.interval, per_chat_interval=pace.per_chat_interval)

    def _book(self, chat: str) -> float:
        """Book the next turn free for `chat`; the seconds until it comes."""
        now = self._clock.now()
        turn = max(now, self._next or now, self._next_in_chat.get(chat, now))
        self._next = turn + self._interval
        self._next_in_chat[chat] = turn + self._per_chat_interval
        return (turn - now).total_seconds()

    async def wait_turn(self, chat: str, *, clock: Clock | None = None) -> None:
        """Wait until a send to `chat` keeps the limits, on `clock` (default the pacer's).

        A sender whose waits must end early (a stopping dispatcher) passes its own clock;
        a turn booked and then not used stays taken.
        """
        wait = self._book(chat)
        if wait > 0:
            await (clock or self._clock).sleep(wait)
