"""Send pacing per platform: a global rate over all chats and an interval per chat.

One `Pacer` per platform, at the pace its transport states (`bot.ports.SendPace`),
is built with the runtime (`bot.app.build_runtime`) and shared by everything in
the process that sends on that platform (lessons, feedback, coach cards, edits),
so all senders together keep the platform's limits. A sender asks for its turn
before each call to the platform and gets the first instant that keeps both its
chat's interval (about a second) and the global one: a chat waiting for its
own second books a slot ahead and leaves the slots before it to other chats.
Turns are booked before each wait, so senders waiting at the same time get
separate turns. Waits are on the injected clock.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.ports import Transport

# Chats whose next turn has passed are forgotten once this many are remembered.
FORGET_AFTER = 10_000


class Pacer:
    """Turns to send on one platform: no two sends closer than `interval`, nor one chat's."""

    def __init__(self, clock: Clock, *, interval: float = 0.0, per_chat_interval: float) -> None:
        self._clock = clock
        self._interval = timedelta(seconds=interval)
        self._per_chat_interval = timedelta(seconds=per_chat_interval)
        self._slots: list[datetime] = []  # booked global turns, in order
        self._next_in_chat: dict[str, datetime] = {}

    @classmethod
    def for_transport(cls, transport: Transport, clock: Clock, *, share: float = 1.0) -> Pacer:
        """A pacer keeping the pace the transport states for its platform.

        With `share` below 1, this process keeps to that share of the platform's
        global rate (several processes sending on one bot split it between them).
        """
        pace = transport.pace
        return cls(clock, interval=pace.interval / share, per_chat_interval=pace.per_chat_interval)

    def book(self, chat: str) -> datetime:
        """Book the first turn that keeps both limits for a send to `chat`: when it comes.

        The chat's own next turn first, then the first global slot at least
        `interval` from every slot already booked (booked slots may lie ahead, when
        their chats wait for their own second, and leave the gaps before them free).
        """
        now = self._clock.now()
        self._forget(now)
        turn = max(now, self._next_in_chat.get(chat, now))
        if self._interval:
            turn = self._free_slot(turn)
            insort(self._slots, turn)
        self._next_in_chat[chat] = turn + self._per_chat_interval
        return turn

    def _free_slot(self, turn: datetime) -> datetime:
        """The first instant from `turn` on at least `interval` from every booked slot."""
        index = bisect_left(self._slots, turn)
        if index and self._slots[index - 1] > turn - self._interval:
            turn = self._slots[index - 1] + self._interval
        while index < len(self._slots) and self._slots[index] < turn + self._interval:
            turn = max(turn, self._slots[index] + self._interval)
            index += 1
        return turn

    def _forget(self, now: datetime) -> None:
        """Drop slots too old to matter, and chats whose next turn has passed (now and then)."""
        del self._slots[: bisect_left(self._slots, now - self._interval)]
        if len(self._next_in_chat) >= FORGET_AFTER:
            self._next_in_chat = {c: t for c, t in self._next_in_chat.items() if t > now}

    async def wait_turn(self, chat: str, *, clock: Clock | None = None) -> None:
        """Wait until a send to `chat` keeps the limits, on `clock` (default the pacer's).

        A sender whose waits must end early (a stopping dispatcher) passes its own clock;
        a turn booked and then not used stays taken.
        """
        wait = (self.book(chat) - self._clock.now()).total_seconds()
        if wait > 0:
            await (clock or self._clock).sleep(wait)
