"""The scheduler: fixed job ids, in-memory store, late ticks run instead of being skipped."""

from __future__ import annotations

from datetime import timedelta

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.triggers.interval import IntervalTrigger

from bot.app import build_runtime
from bot.clock import SimulatedClock
from bot.config import Settings
from bot.scheduler import TickJob, build_scheduler
from bot.transports.console import ConsoleTransport
from storage.models import DeliveryStatus
from tests.delivery_support import add_learner, rows
from tests.factories import MONDAY_9AM, add_pack


def runtime_for(database, clock: SimulatedClock, console: ConsoleTransport):
    """The runtime `run` builds, on this test's database, clock and console."""
    return build_runtime(
        database=database, settings=Settings(), clock=clock, transports={"console": console}
    )


async def test_jobs_have_fixed_ids_intervals_and_never_skip_a_late_run(database):
    runtime = runtime_for(database, SimulatedClock(MONDAY_9AM), ConsoleTransport())
    scheduler = build_scheduler(runtime.ticks())
    scheduler.start()
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert isinstance(scheduler._lookup_jobstore("default"), MemoryJobStore)
    finally:
        scheduler.shutdown(wait=False)
    assert {"plan", "dispatch"} <= set(jobs)
    assert set(jobs) == {"plan", "dispatch", "nudge", "sla", "silence", "digest"}
    intervals = {job_id: job.trigger.interval for job_id, job in jobs.items()}
    assert intervals["plan"] == timedelta(seconds=60)
    assert intervals["dispatch"] == timedelta(seconds=5)
    for job in jobs.values():
        assert isinstance(job.trigger, IntervalTrigger)
        assert job.misfire_grace_time is None  # a late tick runs, it is never dropped
        assert job.coalesce is True  # a backlog of missed runs is one run
        assert job.max_instances == 1


async def test_adding_the_same_jobs_again_replaces_them(database):
    calls: list[str] = []

    async def tick() -> None:
        calls.append("tick")

    scheduler = build_scheduler([TickJob("plan", 60, tick), TickJob("plan", 30, tick)])
    scheduler.start()
    try:
        [job] = scheduler.get_jobs()
    finally:
        scheduler.shutdown(wait=False)
    assert (job.id, job.trigger.interval) == ("plan", timedelta(seconds=30))


async def test_the_plan_and_dispatch_jobs_plan_and_send_the_day(database):
    async with database.sessions() as session:
        await add_pack(session, types=("single",))
        await add_learner(session)
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM)
    console = ConsoleTransport()
    jobs = {job.job_id: job for job in runtime_for(database, clock, console).ticks()}
    await jobs["plan"].tick()
    await jobs["dispatch"].tick()
    assert len(console.to("console:ada")) == 3  # lesson, quiz, reflection
    assert {row.status for row in await rows(database)} == {DeliveryStatus.SENT}
    # Ticking on for the rest of the day sends nothing more.
    for _ in range(5):
        clock.advance(timedelta(hours=1))
        await jobs["plan"].tick()
        await jobs["dispatch"].tick()
    assert len(console.to("console:ada")) == 3
