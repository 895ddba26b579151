"""APScheduler 3.x calling the tick functions; every bit of state lives in the database.

Jobs are kept in memory with fixed ids (`replace_existing=True`), so a restart
simply schedules them again. `misfire_grace_time=None` means a tick that starts
late (a busy loop, a suspended laptop) still runs instead of being skipped, and
`coalesce` folds a backlog of missed runs into one; ticks only ever plan today,
so a late tick never skips a day or sends a backlog. `max_instances=1` lets a
slow tick finish before the next one starts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler


@dataclass(frozen=True, slots=True)
class TickJob:
    """A tick function and how often it runs."""

    job_id: str
    seconds: float
    tick: Callable[[], Awaitable[object]]


def build_scheduler(jobs: Sequence[TickJob]) -> AsyncIOScheduler:
    """A scheduler (not yet started) that runs each tick every `seconds`."""
    scheduler = AsyncIOScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": AsyncIOExecutor()},
        job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        timezone="UTC",
    )
    for job in jobs:
        scheduler.add_job(
            job.tick,
            "interval",
            seconds=job.seconds,
            id=job.job_id,
            name=job.job_id,
            replace_existing=True,
        )
    return scheduler
