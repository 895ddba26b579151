"""APScheduler 3.x calling the tick functions; every bit of state lives in the database.

Jobs are kept in memory with fixed ids (`replace_existing=True`), so a restart
simply schedules them again. `misfire_grace_time=None` means a tick that starts
late (a busy loop, a suspended laptop) still runs instead of being skipped, and
`coalesce` folds a backlog of missed runs into one; ticks only ever plan today,
so a late tick never skips a day or sends a backlog. `max_instances=1` lets a
slow tick finish before the next one starts. Every job also runs once at start-up,
so a restarted bot catches up at once.

Jobs must be coroutine functions (or partials of one): `AsyncIOExecutor` awaits
only those, and runs anything else in a thread, where a coroutine a lambda
returns is dropped without running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.util import iscoroutinefunction_partial


@dataclass(frozen=True, slots=True)
class TickJob:
    """A tick function and how often it runs."""

    job_id: str
    seconds: float
    tick: Callable[[], Awaitable[object]]


class TickScheduler(AsyncIOScheduler):
    """An AsyncIOScheduler whose `stop` lets running ticks finish instead of cancelling them."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.add_listener(
            self._count,
            EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED,
        )

    def _count(self, event: JobEvent) -> None:
        """Keep count of the runs handed to the executor and not finished yet."""
        if isinstance(event, JobSubmissionEvent):
            self._running += len(event.scheduled_run_times)  # one event back per run time
        else:
            self._running -= 1
        if self._running:
            self._idle.clear()
        else:
            self._idle.set()

    async def stop(self) -> None:
        """Start no new tick, wait for the running ones to end, then shut down.

        `shutdown` alone would cancel a running tick wherever it is, e.g. between
        a send and the record that it was sent.
        """
        self.pause()
        await self._idle.wait()
        self.shutdown(wait=False)


def build_scheduler(jobs: Sequence[TickJob]) -> TickScheduler:
    """A scheduler (not yet started) that runs each tick at start and every `seconds`."""
    scheduler = TickScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": AsyncIOExecutor()},
        job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        timezone="UTC",
    )
    start = datetime.now(UTC)
    for job in jobs:
        if not iscoroutinefunction_partial(job.tick):
            raise TypeError(f"tick job {job.job_id!r} is not a coroutine function: never awaited")
        scheduler.add_job(
            job.tick,
            "interval",
            seconds=job.seconds,
            id=job.job_id,
            name=job.job_id,
            replace_existing=True,
            next_run_time=start,
        )
    return scheduler
