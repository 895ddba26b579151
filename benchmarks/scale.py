"""Planning ticks at scale: the first look, 10,000 learners due at once, an idle tick, RSS.

Run with `python -m benchmarks.scale [--learners N ...] [--database-url URL]`.
For each size N: N learners (bulk inserted), enrolled in the starter pack, in
London; 10,000 of them (or all, if fewer) send at 09:00 and the rest at 17:00.
Ticks on a Monday: 08:00 (nobody due: the first look at everyone), 09:00
(10,000 due at the same minute), 09:01 (nobody newly due: an idle tick).
Targets (issue 16): idle tick under 1 s at 100,000 learners, 10,000 due
planned in under 5 s, RSS under 250 MB. PostgreSQL when a server URL is given,
ANALYZEd after the bulk set-up (autovacuum would within a minute; without
statistics the first ticks' plans are the server's guesses).

Ticks plan learners in batches as `run` does (`--batch run`, plan_tick's default)
or all in one transaction (`--batch all`, what this benchmark measured first: one
`_Learner`, one mark and, when due, one Person and Enrolment entity per learner at
once). Without `--batch`, each size runs both ways, each in a process of its own,
so that each peak RSS is that tick's own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from itertools import chain

from benchmarks.bench_support import (
    bulk_insert,
    enrolment_rows,
    gather_statistics,
    load_starter_pack,
    person_rows,
    rss_mb,
    scratch_database,
)
from bot.clock import SimulatedClock
from bot.outbox.planner import plan_tick
from storage.models import Enrolment, Person

MONDAY = datetime(2026, 11, 23, tzinfo=UTC)  # London is on UTC in winter
DUE_AT_NINE = 10_000


def learners(count: int):
    """`count` learners: the first 10,000 send at 09:00, the rest at 17:00."""
    nine = min(count, DUE_AT_NINE)
    late = ({**row, "send_time": "17:00"} for row in person_rows(count - nine, start=nine + 1))
    return chain(person_rows(nine), late)


async def measure(count: int, url: str | None, *, all_at_once: bool) -> dict[str, float]:
    """Seconds of each tick and rows planned, for `count` learners."""
    async with scratch_database(url) as database:
        pack_id = await load_starter_pack(database)
        await bulk_insert(database, Person.__table__, learners(count))
        await bulk_insert(
            database, Enrolment.__table__, enrolment_rows(range(1, count + 1), pack_id)
        )
        await gather_statistics(database)
        figures: dict[str, float] = {"rss after set-up": rss_mb()}
        for name, hour, minute in (("first look", 8, 0), ("due", 9, 0), ("idle", 9, 1)):
            clock = SimulatedClock(MONDAY.replace(hour=hour, minute=minute))
            started, cpu = time.perf_counter(), time.process_time()
            batching = {"batch": None} if all_at_once else {}
            result = await plan_tick(sessions=database.sessions, clock=clock, **batching)
            figures[name] = time.perf_counter() - started
            figures[f"{name} cpu"] = time.process_time() - cpu
            figures[f"{name} planned"] = len(result.planned)
        return figures


def main() -> None:
    """Print one line per size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--batch", choices=("run", "all"), help="default: both, one process each")
    args = parser.parse_args()
    if args.batch is None:
        url = ["--database-url", args.database_url] if args.database_url else []
        for count in args.learners:
            for batch in ("all", "run"):
                command = [sys.executable, "-m", "benchmarks.scale", "--batch", batch, *url]
                subprocess.run([*command, "--learners", str(count)], check=True)
        return
    database = "PostgreSQL" if args.database_url else "SQLite"
    for count in args.learners:
        f = asyncio.run(measure(count, args.database_url, all_at_once=args.batch == "all"))
        print(
            f"{database} {count:>7,} learners, batches as {args.batch!r}: "
            f"first look {f['first look']:6.2f} s; "
            f"{f['due planned']:,.0f} due planned in {f['due']:6.2f} s "
            f"({f['due cpu']:.2f} s of this process's CPU); "
            f"idle tick {f['idle']:6.2f} s; peak RSS {rss_mb():.0f} MB "
            f"({f['rss after set-up']:.0f} MB after the bulk set-up)"
        )


if __name__ == "__main__":
    main()
