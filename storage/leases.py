"""Leases: a once-only job (SLA checks, digests) runs in one process at a time.

Each process that would run the job asks for its lease before each run; the
holder renews it, another process gets it only once it has expired (its holder
stopped or died). A row per job in `joblease`, so it works the same on SQLite
and PostgreSQL, with any number of processes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import col

from storage.db import SessionFactory, insert_unless_taken
from storage.models import JobLease


async def hold_lease(
    sessions: SessionFactory, *, name: str, holder: str, now: datetime, ttl: timedelta
) -> bool:
    """Take or renew the lease on job `name` for `holder` until `now + ttl`; True if held."""
    until = now + ttl
    async with sessions.begin() as session:
        taken = insert_unless_taken(session, JobLease, unique=("name",)).values(
            name=name, holder=holder, expires_at=until
        )
        await session.exec(taken)
        renew = (
            update(JobLease)
            .where(
                col(JobLease.name) == name,
                or_(col(JobLease.holder) == holder, col(JobLease.expires_at) <= now),
            )
            .values(holder=holder, expires_at=until)
        )
        return bool((await session.exec(renew)).rowcount)
