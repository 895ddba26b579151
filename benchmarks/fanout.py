"""Fan-out: learners due at once, end to end, against the official client on the same fake.

Run with `python -m benchmarks.fanout [--learners N] [--platforms telegram slack]
[--database-url URL]`. For each platform, N learners (default 10,000) enrolled
in the starter pack are due at 09:00; the engine plans them (`plan_tick`),
claims, renders, sends through the real transport and records every row
(`Dispatcher.drain`), into the fake platform API in a process of its own that
answers each call after 50 ms and limits nothing. The baseline, in the same
run on the same fake, is the official client (`telegram.Bot`, slack_sdk's
`AsyncWebClient`) posting exactly the calls the engine made (read back from the
fake) with the same number in flight (16).

The product's pacing is lifted for this run: each platform's pacer is
`Pacer(clock, interval=0, per_chat_interval=…)`, no global rate (the transports
state 29/s for Telegram and 10/s for Slack), so the fake's 50 ms and the
number in flight bound both sides. Each chat still waits its `--per-chat`
seconds between its own messages (1 s in production, `0` lifts it too).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient
from telegram import Bot, ForceReply, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.request import HTTPXRequest

from benchmarks.bench_support import (
    FakePlatforms,
    ShiftedClock,
    bulk_insert,
    enrolment_rows,
    fake_platforms,
    load_starter_pack,
    person_rows,
    scratch_database,
)
from benchmarks.fake_platforms import slack_user
from bot.app import Database
from bot.outbox.dispatcher import Dispatcher
from bot.outbox.pacing import Pacer
from bot.outbox.planner import plan_tick
from bot.ports import Transport
from bot.transports.slack import SlackTransport
from bot.transports.telegram import TelegramTransport
from storage.models import Enrolment, Person
from tests.fakes.slack_api import BOT_TOKEN
from tests.fakes.telegram_api import TOKEN

MONDAY_NINE = datetime(2026, 11, 23, 9, tzinfo=UTC)  # London is on UTC in winter
IN_FLIGHT = 16  # the dispatcher's default per platform
MESSAGES = {"sendMessage", "sendPoll", "chat.postMessage"}  # the calls counted as messages
CONNECTIONS = 256  # python-telegram-bot's default pool for an Application's bot
Call = Callable[[], Awaitable[object]]  # one call of the official client, ready to make


def address(platform: str, number: int) -> str:
    """Learner `number`'s id on the platform."""
    return slack_user(number) if platform == "slack" else str(7_000_000 + number)


def learners(platform: str, count: int) -> Iterator[dict[str, Any]]:
    """`count` learners on `platform`, due at 09:00 London."""
    for row in person_rows(count):
        yield {**row, "platform": platform, "platform_id": address(platform, row["id"])}


async def add_due_learners(database: Database, platform: str, count: int) -> None:
    """`count` learners on `platform`, enrolled in the starter pack, due at 09:00 London."""
    pack_id = await load_starter_pack(database)
    await bulk_insert(database, Person.__table__, learners(platform, count))
    await bulk_insert(database, Enrolment.__table__, enrolment_rows(range(1, count + 1), pack_id))


def transport_for(platform: str, urls: dict[str, str]) -> Transport:
    """The product's transport for `platform`, pointed at the fake."""
    if platform == "slack":
        return SlackTransport(token=BOT_TOKEN, api_base_url=urls["slack"])
    return TelegramTransport(token=TOKEN, base_url=urls["telegram"])


@dataclass
class Figures:
    """One side's throughput."""

    messages: int
    seconds: float
    cpu: float  # seconds of this process's CPU (all threads)
    planning: float = 0.0

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.messages / self.seconds


async def engine(
    platform: str, count: int, urls: dict[str, str], url: str | None, per_chat: float
) -> Figures:
    """Plan, claim, render, send and record `count` learners' day; the figures."""
    async with scratch_database(url) as database:
        await add_due_learners(database, platform, count)
        clock = ShiftedClock(MONDAY_NINE)
        transport = transport_for(platform, urls)
        await transport.start(None)
        dispatcher = Dispatcher(
            sessions=database.sessions,
            transports={platform: transport},
            clock=clock,
            pacers={platform: Pacer(clock, interval=0.0, per_chat_interval=per_chat)},
            in_flight=IN_FLIGHT,
        )
        started, cpu = time.perf_counter(), time.process_time()
        await plan_tick(sessions=database.sessions, clock=clock)
        planned = time.perf_counter()
        result = await dispatcher.drain()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        await transport.stop()
    assert not result.failed, result.failed[:3]
    return Figures(result.sent, seconds, cpu, planned - started)


async def _post_all(calls: Iterable[Call]) -> tuple[float, float]:
    """Make every call, `IN_FLIGHT` at a time; the seconds it took, and of CPU."""
    pending = iter(calls)

    async def worker() -> None:
        for call in pending:
            await call()

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return time.perf_counter() - started, time.process_time() - cpu


def _telegram_call(bot: Bot, method: str, params: dict[str, Any]) -> Call:
    """The official client's call for one recorded Bot API call, its objects built already."""
    if method == "sendPoll":
        options = [option["text"] for option in params.pop("options")]
        return lambda: bot.send_poll(options=options, **params)
    markup = params.pop("reply_markup", None)
    if markup is not None:
        kind = ForceReply if "force_reply" in markup else InlineKeyboardMarkup
        params["reply_markup"] = kind.de_json(markup, bot)
    preview = params.pop("link_preview_options", None)
    if preview is not None:
        params["link_preview_options"] = LinkPreviewOptions.de_json(preview, bot)
    send = bot.send_message if method == "sendMessage" else bot.edit_message_text
    return lambda: send(**params)


async def official(platform: str, fakes: FakePlatforms, sends: list[dict[str, Any]]) -> Figures:
    """The official client posting `sends` to the fake, as many in flight as the engine."""
    await fakes.ask("reset")
    if platform == "telegram":
        request = HTTPXRequest(connection_pool_size=CONNECTIONS)
        bot = Bot(TOKEN, base_url=fakes.urls["telegram"], request=request)
        await bot.initialize()
        calls = [_telegram_call(bot, s["method"], dict(s["params"])) for s in sends]
        seconds, cpu = await _post_all(calls)
        await bot.shutdown()
    else:
        async with aiohttp.ClientSession() as session:  # as the transport keeps one
            client = AsyncWebClient(token=BOT_TOKEN, base_url=fakes.urls["slack"], session=session)
            calls = [
                (lambda m=getattr(client, s["method"].replace(".", "_")), p=s["params"]: m(**p))
                for s in sends
            ]
            seconds, cpu = await _post_all(calls)
    stats = await fakes.ask("stats")
    assert set(stats[platform]) == {"200"}, stats
    return Figures(sum(s["method"] in MESSAGES for s in sends), seconds, cpu)


async def compare(
    platform: str, count: int, url: str | None, *, per_chat: float, round_trip: float
) -> None:
    """Run the engine, then the official client on the same calls; print both and the ratio."""
    users = count if platform == "slack" else 0
    options = ["--delay", str(round_trip), "--slack-users", str(users)]
    async with fake_platforms(*options) as fakes:
        ours = await engine(platform, count, fakes.urls, url, per_chat)
        sends = [s for s in await fakes.ask("sends") if s["platform"] == platform]
        theirs = await official(platform, fakes, sends)
    print(
        f"{platform:>8} {count:,} learners, {len(sends):,} calls "
        f"({IN_FLIGHT} in flight, {round_trip * 1000:.0f} ms each):\n"
        f"{'':>9}engine, end to end  {ours.rate:7.1f} msg/s "
        f"({ours.seconds:.1f} s, planning {ours.planning:.1f} s of it; "
        f"CPU {ours.cpu / ours.messages * 1000:.1f} ms/msg)\n"
        f"{'':>9}official client     {theirs.rate:7.1f} msg/s ({theirs.seconds:.1f} s; "
        f"CPU {theirs.cpu / theirs.messages * 1000:.1f} ms/msg)\n"
        f"{'':>9}ratio               {ours.rate / theirs.rate:7.0%} (target ≥ 70 %)"
    )


def main() -> None:
    """Print each platform's figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--platforms", nargs="+", default=["telegram", "slack"])
    parser.add_argument("--per-chat", type=float, default=1.0, help="seconds between one chat's")
    parser.add_argument("--round-trip", type=float, default=0.05, help="the fake's delay, s")
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    args = parser.parse_args()
    for platform in args.platforms:
        asyncio.run(
            compare(
                platform,
                args.learners,
                args.database_url,
                per_chat=args.per_chat,
                round_trip=args.round_trip,
            )
        )


if __name__ == "__main__":
    main()
