"""Senders held up after their turn (a busy database) do not go out together over the rate."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.clock import SimulatedClock
from bot.outbox.pacing import Pacer
from tests.factories import MONDAY_9AM

SECOND = timedelta(seconds=1)


def busiest_second(instants: list[datetime]) -> int:
    """The most sends in any one second starting at a send."""
    return max(sum(1 for t in instants if start <= t < start + SECOND) for start in instants)


async def test_senders_held_up_after_their_turns_keep_the_rate_when_they_go():
    clock = SimulatedClock(MONDAY_9AM)
    pacer = Pacer(clock, interval=1 / 25, per_chat_interval=1.0)
    turns = [pacer.book(f"chat {n}") for n in range(50)]  # 25 a second, for two seconds
    went: list[datetime] = []
    clock.set(turns[24])  # the first 25 waited for the database until the 25th's turn
    for _ in range(25):
        await pacer.going()
        went.append(clock.now())
    for turn in turns[25:]:  # the others reach their send at their turn
        clock.set(max(clock.now(), turn))
        await pacer.going()
        went.append(clock.now())
    assert busiest_second(went) <= 25
    assert went[-1] - went[0] < 2 * SECOND  # and no slower than the rate needs
