"""The scheduler: fixed job ids, in-memory store, late ticks run instead of being skipped."""

from __future__ import annotations

import asyncio
import inspect
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import iscoroutinefunction_partial

from bot.app import build_runtime
from bot.clock import SimulatedClock
from bot.config import Settings
from bot.outbox.planner import PlanResult
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
    scheduler.start(paused=True)
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert isinstance(scheduler._lookup_jobstore("default"), MemoryJobStore)
    finally:
        scheduler.shutdown(wait=False)
    assert {"plan", "dispatch"} <= set(jobs)
    assert set(jobs) == {"plan", "dispatch", "nudge", "sla", "silence", "digest", "inbox", "prune"}
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
    scheduler.start(paused=True)
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


async def test_every_job_is_awaited_on_the_loop_and_runs_at_start_up(database):
    # AsyncIOExecutor awaits a coroutine function (or a partial of one); anything else
    # (a lambda returning a coroutine) runs in a thread and its coroutine is dropped.
    runtime = runtime_for(database, SimulatedClock(MONDAY_9AM), ConsoleTransport())
    before = datetime.now(UTC)
    scheduler = build_scheduler(runtime.ticks())
    jobs = scheduler.get_jobs()  # pending jobs, as the scheduler will run them
    assert len(jobs) == 8
    for job in jobs:
        assert iscoroutinefunction_partial(job.func), f"{job.id} would not be awaited"
        assert inspect.iscoroutinefunction(job.func), job.id
        assert job.next_run_time <= before + timedelta(seconds=30), f"{job.id} waits"


async def test_the_real_scheduler_runs_every_tick_at_once_and_plans_the_day(database):
    async with database.sessions() as session:
        await add_pack(session, types=("single",))
        await add_learner(session)
        await session.commit()
    console = ConsoleTransport()
    runtime = runtime_for(database, SimulatedClock(MONDAY_9AM), console)
    scheduler = build_scheduler(runtime.ticks())
    finished: dict[str, JobExecutionEvent] = {}
    all_ran = asyncio.Event()

    def note(event: JobExecutionEvent) -> None:
        finished.setdefault(event.job_id, event)
        if len(finished) == 8:
            all_ran.set()

    scheduler.add_listener(note, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    scheduler.start()
    try:
        await asyncio.wait_for(all_ran.wait(), timeout=60)
    finally:
        await scheduler.stop()
    for job_id, event in finished.items():
        assert event.exception is None, (job_id, event.traceback)
        assert not inspect.iscoroutine(event.retval), f"{job_id}'s tick was never awaited"
    plan = finished["plan"].retval
    assert isinstance(plan, PlanResult) and plan.planned == ["ada"]
    assert {row.kind for row in await rows(database)} >= {"lesson", "quiz"}


async def test_stopping_lets_a_running_tick_finish_instead_of_cancelling_it():
    started, release = asyncio.Event(), asyncio.Event()
    ended: list[str] = []

    async def slow_tick() -> None:
        started.set()
        await release.wait()
        ended.append("finished")

    scheduler = build_scheduler([TickJob("slow", 3600, slow_tick)])
    scheduler.start()
    await asyncio.wait_for(started.wait(), timeout=60)
    stopping = asyncio.ensure_future(scheduler.stop())
    await asyncio.sleep(0)
    assert not stopping.done()  # still waiting for the tick
    release.set()
    await asyncio.wait_for(stopping, timeout=60)
    assert ended == ["finished"]


def test_a_tick_that_would_not_be_awaited_is_refused():
    async def tick() -> None:
        """A real tick."""

    with pytest.raises(TypeError, match="'plan' is not a coroutine function"):
        build_scheduler([TickJob("plan", 60, lambda: tick())])
