"""Several `run` processes on one database: each row sent once, once-only jobs run once,
and a restarted process takes its own claims back at once."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest

from bot.app import Database, build_runtime
from bot.clock import SimulatedClock
from bot.config import Settings
from bot.transports.console import ConsoleTransport
from storage.db import create_engine, session_factory
from storage.models import DeliveryStatus
from tests.delivery_support import dispatcher, notices, rows
from tests.factories import MONDAY_9AM, add_person
from tests.fakes.flaky_transport import FlakyTransport


@asynccontextmanager
async def processes(database_url: str, clock: SimulatedClock, *names: str):
    """One runtime per name, each on its own engine (as separate processes would be)."""
    engines = [create_engine(database_url) for _ in names]
    try:
        yield [
            build_runtime(
                database=Database(engine, session_factory(engine)),
                settings=Settings(worker_id=name),
                clock=clock,
                transports={"console": ConsoleTransport(write=None)},
            )
            for name, engine in zip(names, engines, strict=True)
        ]
    finally:
        for engine in engines:
            await engine.dispose()


async def test_two_processes_share_the_sending_and_send_each_row_once(database, database_url):
    async with database.sessions() as session:
        people = [await add_person(session, f"p{n}") for n in range(40)]
        await session.commit()
    for person in people:
        await notices(database, person, "a", "b")
    clock = SimulatedClock(MONDAY_9AM)
    async with processes(database_url, clock, "one", "two") as runtimes:
        await asyncio.gather(*(runtime.dispatcher.drain() for runtime in runtimes))
        sent = [m.outbound.delivery_id for r in runtimes for m in r.transports["console"].sent]
    assert sorted(sent) == sorted({row.id for row in await rows(database)})
    assert {row.status for row in await rows(database)} == {DeliveryStatus.SENT}


async def test_a_once_only_job_runs_in_one_process_and_moves_when_its_holder_stops(
    database, database_url
):
    clock = SimulatedClock(MONDAY_9AM)
    ran: list[str] = []
    async with processes(database_url, clock, "one", "two") as runtimes:

        def job(name: str):
            async def digest() -> None:
                ran.append(name)

            return digest

        jobs = {
            runtime.dispatcher.worker: runtime.once_only(
                "digest", 600, job(runtime.dispatcher.worker)
            )
            for runtime in runtimes
        }
        await asyncio.gather(*(tick() for tick in jobs.values()))
        assert len(ran) == 1
        holder = ran[0]
        clock.advance(timedelta(minutes=10))
        await asyncio.gather(*(tick() for tick in jobs.values()))
        assert ran == [holder, holder]  # the holder renews its lease

        other = next(name for name in jobs if name != holder)
        clock.advance(timedelta(minutes=21))  # the holder stopped: its lease ran out
        await jobs[other]()
        await jobs[holder]()
    assert ran == [holder, holder, other]


async def test_a_restarted_process_takes_its_own_claims_back_at_once(database):
    async with database.sessions() as session:
        ada = await add_person(session, "ada")
        await session.commit()
    await notices(database, ada, "a", "b")
    clock = SimulatedClock(MONDAY_9AM)
    dying = FlakyTransport()
    dying.fail_next("console:ada", asyncio.CancelledError())  # killed mid-send
    with pytest.raises(asyncio.CancelledError):
        await dispatcher(database, clock, dying, worker="host-a").tick()
    assert {row.status for row in await rows(database)} == {DeliveryStatus.CLAIMED}

    console = ConsoleTransport(write=None)
    restarted = dispatcher(database, clock, console, worker="host-a")
    await restarted.take_back_own_claims()  # as `run` does as it starts
    running = asyncio.create_task(restarted.run())
    for _ in range(20000):  # no clock advance: the claims are not stale yet
        if len(console.sent) == 2:
            break
        await asyncio.sleep(0)
    await restarted.stop()
    await asyncio.wait_for(running, timeout=60)
    assert [m.text for m in console.to("console:ada")] == ["hello a", "hello b"]
