"""Sends overlap (a bounded number per platform), each chat keeps its order, and
answers to a learner are claimed ahead of the day's fan-out."""

from __future__ import annotations

import asyncio

from bot.clock import SimulatedClock
from bot.outbox.queue import queue
from bot.transports.console import ConsoleTransport
from storage.models import DeliveryKind, DeliveryStatus
from tests.delivery_support import dispatcher, notices, rows
from tests.factories import MONDAY_9AM, add_person


class OverlapCounter(ConsoleTransport):
    """A console whose sends take a while (a few turns of the loop) and count the overlap."""

    def __init__(self, overlap: int) -> None:
        super().__init__(write=None)
        self.overlap = overlap
        self.in_flight = 0
        self.most_in_flight = 0
        self.order: list[str] = []

    async def send(self, address, outbound):
        """Count this send while it is on its way."""
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        for _ in range(2000):  # a round trip: other sends may start meanwhile
            if self.in_flight >= self.overlap:
                break
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        self.in_flight -= 1
        self.order.append(f"{address}:{outbound.text}")
        return await super().send(address, outbound)


async def learners(database, count: int):
    """`count` console people."""
    async with database.sessions() as session:
        people = [await add_person(session, f"p{n}") for n in range(count)]
        await session.commit()
    return people


async def test_sends_to_different_chats_overlap_up_to_the_limit_and_each_chat_keeps_its_order(
    database,
):
    people = await learners(database, 6)
    for person in people:
        await notices(database, person, "first", "second")
    console = OverlapCounter(overlap=3)
    send = dispatcher(database, SimulatedClock(MONDAY_9AM), console, in_flight=3)

    result = await send.drain()

    assert result.sent == 12
    assert console.most_in_flight == 3
    for person in people:
        mine = [line for line in console.order if line.startswith(f"{person.address}:")]
        assert mine == [f"{person.address}:hello first", f"{person.address}:hello second"]


async def test_feedback_to_an_answer_is_claimed_ahead_of_the_day_fan_out(database):
    people = await learners(database, 30)
    for person in people:
        await notices(database, person, "lesson")  # the day's fan-out, due at 09:00
    async with database.sessions() as session:
        queue(
            session,
            person_id=people[-1].id,
            key="feedback:1",
            kind=DeliveryKind.FEEDBACK,
            text="✅ Right",
            now=MONDAY_9AM.replace(minute=5),
        )
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM.replace(minute=5))

    await dispatcher(database, clock, ConsoleTransport(write=None), batch=5).tick()

    [feedback] = await rows(database, delivery_key="feedback:1")
    assert feedback.status == DeliveryStatus.SENT
    waiting = await rows(database, status=DeliveryStatus.PENDING)
    assert len(waiting) == 26  # four of the fan-out went with it
