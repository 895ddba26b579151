"""Rate-limited sending: learners due at once against a fake Telegram that enforces its limits.

Run with `python -m benchmarks.ratelimited [--learners N] [--pace PER_SECOND]
[--database-url URL]`. N learners (default 1,000) enrolled in the starter pack
are due at 09:00; `run`'s dispatcher loop sends their day through the real
Telegram transport to the fake Bot API in a process of its own, which answers
after 50 ms and enforces 30 sends a second in all and one a second per chat
(beyond them: 429 with Retry-After). The pacer is the product's (29/s, 1/s a
chat), or `--pace` sends a second. Printed: the sustained rate (first to last
accepted send) as a share of the 30/s limit and of the pacer's own rate, the
429s received, and messages lost (rows planned that never arrived: must be 0)
and doubled.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from dataclasses import dataclass

from sqlmodel import col, func, select

from benchmarks.bench_support import FakePlatforms, ShiftedClock, fake_platforms, scratch_database
from benchmarks.fanout import MONDAY_NINE, add_due_learners
from bot.app import Database
from bot.outbox.dispatcher import Dispatcher
from bot.outbox.pacing import Pacer
from bot.outbox.planner import plan_tick
from bot.transports.telegram import TelegramTransport
from storage.models import Delivery, DeliveryStatus
from tests.fakes.telegram_api import TOKEN

LIMIT = 30  # sends a second the fake allows in all (one a second per chat)
CHECK_EVERY = 0.5  # seconds between looks at whether every row has ended


@dataclass
class Figures:
    """What one run measured."""

    planned: int
    statuses: Counter[str]
    accepted: int
    doubled: int
    rate: float
    rate_limited: int
    tripped: dict[str, int]  # which limit the 429s kept: "global", "chat"
    seconds: float


async def _unfinished(database: Database) -> int:
    """Rows not ended yet (pending or claimed)."""
    waiting = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED)
    async with database.sessions() as session:
        count = select(func.count()).where(col(Delivery.status).in_(waiting))
        return int((await session.exec(count)).one())


async def _send_everything(database: Database, dispatcher: Dispatcher) -> None:
    """Run the dispatcher's loop (as `run` does) until every row has ended."""
    running = asyncio.create_task(dispatcher.run())
    await dispatcher.wake()
    while await _unfinished(database):
        await asyncio.sleep(CHECK_EVERY)
    await dispatcher.stop()
    await running


async def measure(fakes: FakePlatforms, count: int, url: str | None, pace: float) -> Figures:
    """Plan `count` learners' day and send it all through the limits; the figures."""
    async with scratch_database(url) as database:
        await add_due_learners(database, "telegram", count)
        clock = ShiftedClock(MONDAY_NINE)
        transport = TelegramTransport(token=TOKEN, base_url=fakes.urls["telegram"])
        await transport.start(None)
        pacer = Pacer(clock, interval=1 / pace, per_chat_interval=transport.pace.per_chat_interval)
        dispatcher = Dispatcher(
            sessions=database.sessions,
            transports={"telegram": transport},
            clock=clock,
            pacers={"telegram": pacer},
        )
        started = time.perf_counter()
        planned = (await plan_tick(sessions=database.sessions, clock=clock)).rows
        await _send_everything(database, dispatcher)
        seconds = time.perf_counter() - started
        await transport.stop()
        async with database.sessions() as session:
            statuses = Counter((await session.exec(select(Delivery.status))).all())
    sends = [s for s in await fakes.ask("sends") if s["platform"] == "telegram"]
    times = sorted(s["at"] for s in sends)
    messages = Counter(
        (s["params"]["chat_id"], s["params"].get("text") or s["params"].get("question"))
        for s in sends
    )
    stats = await fakes.ask("stats")
    return Figures(
        planned=planned,
        statuses=statuses,
        accepted=len(sends),
        doubled=sum(n - 1 for n in messages.values()),
        rate=(len(times) - 1) / (times[-1] - times[0]),
        rate_limited=int(stats["telegram"].get("429", 0)),
        tripped=stats["limit"],
        seconds=seconds,
    )


async def run(count: int, url: str | None, pace: float) -> None:
    """Measure once and print the figures."""
    async with fake_platforms("--delay", "0.05", "--limit", str(LIMIT)) as fakes:
        f = await measure(fakes, count, url, pace)
    lost = f.planned - f.accepted + f.doubled
    print(
        f"{count:,} learners, {f.planned:,} messages, pacer {pace:g}/s, "
        f"fake limit {LIMIT}/s and 1/s a chat ({f.seconds:.0f} s in all):\n"
        f"  sustained {f.rate:5.1f} msg/s = {f.rate / LIMIT:4.0%} of the {LIMIT}/s limit "
        f"(target ≥ 95 %), {f.rate / pace:4.0%} of the pacer's {pace:g}/s\n"
        f"  429s received {f.rate_limited} {f.tripped}; lost {lost} (must be 0); "
        f"sent twice {f.doubled}; rows {dict(f.statuses)}"
    )


def main() -> None:
    """Print the figures for the learners asked for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=1_000)
    parser.add_argument("--pace", type=float, default=None, help="sends a second (default 29)")
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    args = parser.parse_args()
    pace = args.pace or 1 / TelegramTransport.pace.interval
    asyncio.run(run(args.learners, args.database_url, pace))


if __name__ == "__main__":
    main()
