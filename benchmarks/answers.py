"""Answer handling under load: N answers a second for S seconds, with 90 days of history.

Run with `python -m benchmarks.answers [--rate 200] [--seconds 60] [--learners 2000]
[--database-url URL]`. Each learner has had a lesson and a quiz answered every day
for 90 days (bulk inserted; on PostgreSQL then ANALYZEd, as autovacuum would be
within a minute), and has today's quiz prompts sent and open. Answers
(button presses through `InboundRouter.handle`, as `run` wires it: the dispatcher
is only woken) arrive at a steady rate, each in its own task; the figures are the
latency of each `handle` (p50, p99, max), the process's CPU time per answer
(comparable on a busy machine, where the wall-clock rate is not), the SQL
statements and commits per answer, and how many answers were stored against
how many were sent (they must be equal).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import event
from sqlmodel import func, select

from benchmarks.bench_support import (
    bulk_insert,
    enrolment_rows,
    gather_statistics,
    load_starter_pack,
    person_rows,
    scratch_database,
)
from bot.clock import SystemClock
from bot.conversation.router import InboundRouter
from bot.messages import Answer
from storage.models import Delivery, Enrolment, Item, Person, Response

HISTORY_DAYS = 90


async def _wake() -> None:
    """The dispatcher's wake: it only sets an event."""


def history(learners: int, items: list[Item], today: datetime):
    """(deliveries, responses): a sent quiz per learner per past day, each answered."""
    deliveries, responses = [], []
    row_id = 0
    for person_id in range(1, learners + 1):
        for days_ago in range(HISTORY_DAYS, 0, -1):
            row_id += 1
            at = today - timedelta(days=days_ago)
            item = items[days_ago % len(items)]
            deliveries.append(_sent(row_id, person_id, item, at, f"quiz:{at.date()}:{item.key}"))
            responses.append(
                {
                    "person_id": person_id,
                    "item_id": item.id,
                    "delivery_id": row_id,
                    "answer": "a",
                    "correct": days_ago % 3 != 0,
                    "late": False,
                    "review": False,
                    "expected": 0.7,
                    "answered_at": at + timedelta(minutes=5),
                }
            )
    return deliveries, responses


def _sent(row_id: int, person_id: int, item: Item, at: datetime, key: str) -> dict:
    """A quiz row sent at `at`."""
    return {
        "id": row_id,
        "person_id": person_id,
        "delivery_key": key,
        "kind": "quiz",
        "local_date": at.date(),
        "due_at": at,
        "created_at": at,
        "sent_at": at,
        "status": "sent",
        "attempts": 1,
        "item_id": item.id,
        "lesson_id": item.lesson_id,
        "payload": {},
        "platform_ref": f"m{row_id}",
    }


async def measure(args: argparse.Namespace) -> dict[str, float]:
    """Latencies (ms) and counts of one run."""
    async with scratch_database(args.database_url) as database:
        pack_id = await load_starter_pack(database)
        async with database.sessions() as session:
            statement = select(Item).where(Item.type == "single").order_by(Item.id)
            items = list((await session.exec(statement)).all())
        now = datetime.now(UTC)
        await bulk_insert(database, Person.__table__, person_rows(args.learners))
        people = range(1, args.learners + 1)
        await bulk_insert(database, Enrolment.__table__, enrolment_rows(people, pack_id))
        deliveries, responses = history(args.learners, items, now)
        total = args.rate * args.seconds
        first_open = len(deliveries) + 1
        today = [
            _sent(first_open + n, n % args.learners + 1, items[n // args.learners], now, f"t{n}")
            for n in range(total)
        ]
        await bulk_insert(database, Delivery.__table__, deliveries + today)
        await bulk_insert(database, Response.__table__, responses)
        await gather_statistics(database)
        router = InboundRouter(sessions=database.sessions, clock=SystemClock(), on_outbox=_wake)
        choice = "c2"  # choices are c1, c2 … in pack order
        latencies: list[float] = []
        raised: list[str] = []

        async def answer(n: int) -> None:
            row = today[n]
            inbound = Answer(f"console:p{row['person_id']}", f"e{n}", row["id"], (choice,))
            started = time.perf_counter()
            try:
                await router.handle(inbound)
            except Exception as exc:  # the platform would see an error for this answer
                raised.append(type(exc).__name__)
            latencies.append(time.perf_counter() - started)

        tasks = []
        seen = {"statements": 0, "commits": 0}

        def statement(*_: object) -> None:
            seen["statements"] += 1

        def commit(*_: object) -> None:
            seen["commits"] += 1

        engine = database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", statement)
        event.listen(engine, "commit", commit)
        started, cpu = time.perf_counter(), time.process_time()
        for n in range(total):
            wait = started + n / args.rate - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(answer(n)))
        await asyncio.gather(*tasks)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
        async with database.sessions() as session:
            stored = (
                await session.exec(
                    select(func.count(Response.id)).where(Response.delivery_id >= first_open)
                )
            ).one()
        ordered = sorted(latencies)
        return {
            "sent": total,
            "raised": len(raised),
            "stored": stored,
            "rate": total / elapsed,
            "cpu": cpu / total * 1000,
            "statements": seen["statements"] / total,
            "commits": seen["commits"] / total,
            "p50": statistics.median(ordered) * 1000,
            "p99": ordered[int(len(ordered) * 0.99) - 1] * 1000,
            "max": ordered[-1] * 1000,
        }


def main() -> None:
    """Print the figures of one run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    args = parser.parse_args()
    f = asyncio.run(measure(args))
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"{database}, {args.learners} learners, {HISTORY_DAYS} days of history: "
        f"{f['sent']:.0f} answers at {f['rate']:.0f}/s; p50 {f['p50']:.1f} ms, "
        f"p99 {f['p99']:.1f} ms, max {f['max']:.0f} ms; {f['cpu']:.1f} ms CPU, "
        f"{f['statements']:.1f} SQL statements and {f['commits']:.2f} commits per answer; "
        f"stored {f['stored']:.0f} of {f['sent']:.0f} ({f['raised']:.0f} raised an error)"
    )


if __name__ == "__main__":
    main()
