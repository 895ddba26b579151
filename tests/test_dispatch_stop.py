"""Stopping the dispatcher: the send in flight finishes, the rest goes back to pending at once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from bot.clock import SimulatedClock
from bot.messages import Outbound, SentRef
from bot.outbox.dispatcher import STOPPED
from bot.transports.console import ConsoleTransport
from storage.models import DeliveryStatus
from storage.outbox import DEFAULT_STALE_AFTER
from tests.delivery_support import dispatcher, rows
from tests.factories import MONDAY_9AM, add_person
from tests.test_dispatch import ada_bea_and_cy_with_a_notice_each, notices


class SlowTransport(ConsoleTransport):
    """A console whose sends wait at a gate the test opens."""

    def __init__(self) -> None:
        super().__init__()
        self.sending = asyncio.Event()
        self.gate = asyncio.Event()

    async def send(self, address: str, outbound: Outbound) -> SentRef:
        """Wait for the gate, then send."""
        self.sending.set()
        await self.gate.wait()
        return await super().send(address, outbound)


class WaitingClock(SimulatedClock):
    """A clock whose waits never end by themselves (a long retry backoff)."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.waiting = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        """Wait until cancelled."""
        self.waiting.set()
        await asyncio.Event().wait()


async def ada_with_three_notices(database) -> None:
    """Ada with three notices due at MONDAY_9AM: the second and third wait behind the first."""
    async with database.sessions() as session:
        ada = await add_person(session, "ada")
        await session.commit()
    await notices(database, ada, "one", "two", "three")


async def test_stop_lets_the_send_in_flight_finish_and_puts_the_rest_back_at_once(database):
    await ada_with_three_notices(database)
    clock = SimulatedClock(MONDAY_9AM)
    slow = SlowTransport()
    first = dispatcher(database, clock, slow)
    ticking = asyncio.ensure_future(first.tick())
    await asyncio.wait_for(slow.sending.wait(), timeout=60)

    stopping = asyncio.ensure_future(first.stop())
    await asyncio.sleep(0)
    assert not stopping.done()  # the message handed to the transport is not abandoned
    slow.gate.set()
    put_back = await asyncio.wait_for(stopping, timeout=60)
    result = await ticking

    assert (result.sent, put_back) == (1, 2)
    [in_flight] = slow.sent
    by_status = {row.status: row for row in await rows(database)}
    assert set(by_status) == {DeliveryStatus.SENT, DeliveryStatus.PENDING}
    assert by_status[DeliveryStatus.SENT].platform_ref == in_flight.ref.message_id
    for row in await rows(database, status=DeliveryStatus.PENDING):
        assert (row.claimed_by, row.claimed_at, row.reason) == (None, None, STOPPED)
    assert (await first.tick()).claimed == 0  # a stopped dispatcher claims nothing

    # A restart sends the rest at once, without waiting for a claim to go stale.
    console = ConsoleTransport()
    await dispatcher(database, clock, console).tick()
    sent = [m.outbound.text for m in [*slow.sent, *console.sent]]
    assert sent == ["hello one", "hello two", "hello three"]
    assert {row.status for row in await rows(database)} == {DeliveryStatus.SENT}


async def test_stop_puts_back_the_rows_waiting_for_a_slot_to_send(database):
    await ada_bea_and_cy_with_a_notice_each(database, "hello:")
    slow = SlowTransport()
    first = dispatcher(database, SimulatedClock(MONDAY_9AM), slow, in_flight=1)
    ticking = asyncio.ensure_future(first.tick())
    await asyncio.wait_for(slow.sending.wait(), timeout=60)  # Bea's and Cy's wait for the slot

    stopping = asyncio.ensure_future(first.stop())
    await asyncio.sleep(0)
    slow.gate.set()
    put_back = await asyncio.wait_for(stopping, timeout=60)

    assert ((await ticking).sent, put_back) == (1, 2)
    assert len(slow.sent) == 1
    assert sorted(row.status for row in await rows(database)) == [
        DeliveryStatus.PENDING,
        DeliveryStatus.PENDING,
        DeliveryStatus.SENT,
    ]


async def test_stop_does_not_wait_out_the_pacing_and_puts_the_waiting_row_back(database):
    async with database.sessions() as session:
        ada, bea = [await add_person(session, name) for name in ("ada", "bea")]
        await session.commit()
    await notices(database, ada, "first", "second")
    await notices(database, bea, "only")
    clock = WaitingClock(MONDAY_9AM)
    console = ConsoleTransport()
    stopped = dispatcher(database, clock, console)
    ticking = asyncio.ensure_future(stopped.tick())
    await asyncio.wait_for(clock.waiting.wait(), timeout=60)  # Ada's second waits its turn

    assert await asyncio.wait_for(stopped.stop(), timeout=60) == 1
    result = await ticking
    assert result.sent == 2
    assert sorted(m.address for m in console.sent) == ["console:ada", "console:bea"]
    [waiting] = await rows(database, status=DeliveryStatus.PENDING)
    assert (waiting.delivery_key, waiting.claimed_by, waiting.reason) == ("second", None, STOPPED)


def test_the_readme_says_how_long_a_dead_process_keeps_its_claims():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    minutes = DEFAULT_STALE_AFTER // timedelta(minutes=1)
    assert f"{minutes} minutes after they were claimed" in readme
