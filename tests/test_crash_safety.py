"""`servicecoach run` killed with SIGKILL again and again while 1,000 learners are due.

The bot talks to the fake Telegram Bot API in this process. Each kill comes at a
seeded random moment (as the process starts planning, or after a random number
of messages); the same WORKER_ID is started again at once. At the end the fake's
records show every learner got today's lesson, and a message went twice only
when it was in flight at a kill: sent, but not yet recorded as sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import signal
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.app import Database
from bot.outbox.dispatcher import IN_FLIGHT
from tests.fakes.telegram_api import FakeTelegram
from tests.test_run_process import WAIT, prepared
from tests.test_telegram_run import Process, start

PACK = str(Path(__file__).parent / "packs" / "one-question.yaml")
LEARNERS = 1000
KILLS = 10
WORKER = "crash-test"
FIRST_CHAT = 100_000
CONNECTION_LOST = r"database connection lost while|sending stopped by a database error"


async def start_bot(env: dict[str, str], folder: Path) -> Process:
    """`servicecoach run` with this environment, once it says it runs."""
    bot = await start(["run"], env, cwd=folder)
    await bot.line_matching("servicecoach running")
    return bot


async def sent_refs(database: Database) -> set[tuple[int, int]]:
    """(chat, message id) of every row the database records as sent."""
    async with database.engine.connect() as connection:
        found = await connection.execute(
            text(
                "SELECT person.platform_id, delivery.platform_ref FROM delivery"
                " JOIN person ON person.id = delivery.person_id"
                " WHERE delivery.status = 'sent' AND delivery.platform_ref IS NOT NULL"
            )
        )
        return {(int(chat), int(ref)) for chat, ref in found}


async def statuses(database: Database) -> Counter[str]:
    """How many outbox rows are in each status."""
    async with database.engine.connect() as connection:
        found = await connection.execute(text("SELECT status, COUNT(*) FROM delivery GROUP BY 1"))
        return Counter(dict(found.all()))


def unrecorded(fake: FakeTelegram, recorded: set[tuple[int, int]]) -> list[tuple[int, int]]:
    """Messages the fake got that no row records as sent: they were in flight at a kill."""
    return [
        (m.chat_id, m.message_id)
        for m in fake.messages
        if (m.chat_id, m.message_id) not in recorded
    ]


async def telegram_env(
    folder: Path, database: Database, database_url: str, fake: FakeTelegram, learners: int
) -> dict[str, str]:
    """Telegram learners due today, welcomed on an earlier day; `run` pointed at the fake."""
    people = [(f"Learner {n}", str(FIRST_CHAT + n), "front") for n in range(learners)]
    env = await asyncio.to_thread(
        prepared, folder, people, platform="telegram", database_url=database_url, pack=PACK
    )
    async with database.engine.begin() as connection:
        await connection.execute(
            text("UPDATE delivery SET status = 'sent', sent_at = created_at WHERE kind = 'notice'")
        )
    return {
        **env,
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_SEND_RATE": "1000",  # the fake enforces no rate: a paid-broadcast bot's pace
        "WORKER_ID": WORKER,
    }


@pytest.fixture
async def bot_env(tmp_path: Path, database: Database, database_url: str, fake_telegram):
    """1,000 learners due today, for `run` against the fake."""
    return await telegram_env(tmp_path, database, database_url, fake_telegram, LEARNERS)


async def test_run_killed_ten_times_sends_every_lesson_and_doubles_only_what_was_in_flight(
    tmp_path: Path, database: Database, bot_env: dict[str, str], fake_telegram: FakeTelegram
):
    fake, rng = fake_telegram, random.Random(16)
    left_claimed, in_flight_at_kills, took_back = 0, [], 0
    for _ in range(KILLS):
        before = len(fake.messages)
        bot = await start_bot(bot_env, tmp_path)
        if rng.random() > 0.2:  # else killed as its first ticks plan and claim
            target = before + rng.randint(1, 200)
            await fake.until(lambda target=target: len(fake.messages) >= target, timeout=WAIT)
        bot.process.kill()
        assert await bot.ended() == -signal.SIGKILL
        assert [line for line in bot.err if "Traceback" in line] == []
        if len(fake.messages) > before and left_claimed:  # it sent, so it took its claims back
            assert f"took back {left_claimed} message(s)" in "\n".join(bot.err)
            took_back += 1
        recorded = await sent_refs(database)
        in_flight_at_kills.append(len(unrecorded(fake, recorded)) - sum(in_flight_at_kills))
        left_claimed = (await statuses(database))["claimed"]
    assert max(in_flight_at_kills) <= IN_FLIGHT, in_flight_at_kills
    assert took_back, "no restart found claims of its own to take back"

    # SIGTERM while sending: what is in flight finishes and is recorded, the rest goes back.
    bot = await start_bot(bot_env, tmp_path)
    target = len(fake.messages) + rng.randint(1, 200)
    await fake.until(lambda: len(fake.messages) >= target, timeout=WAIT)
    assert await bot.stopped() == 0, bot.err[-10:]
    assert re.fullmatch(r"servicecoach stopped \(\d+ unsent message\(s\) .*\)", bot.out[-1])
    assert (await statuses(database))["claimed"] == 0
    assert len(unrecorded(fake, await sent_refs(database))) == sum(in_flight_at_kills)

    bot = await start_bot(bot_env, tmp_path)
    expected = 2 * LEARNERS + sum(in_flight_at_kills)  # a lesson and a question each
    await fake.until(lambda: len(fake.messages) >= expected, timeout=2 * WAIT)
    assert await bot.stopped() == 0, bot.err[-10:]
    assert [line for line in bot.err if "Traceback" in line] == []

    assert await statuses(database) == Counter(sent=3 * LEARNERS)  # welcomes, lessons, questions
    recorded = await sent_refs(database)
    twice = Counter((m.chat_id, m.text) for m in fake.messages)
    doubled = Counter(
        (m.chat_id, m.text) for m in fake.messages if (m.chat_id, m.message_id) not in recorded
    )
    assert {key: count - 1 for key, count in twice.items() if count > 1} == dict(doubled)
    lessons = Counter(m.chat_id for m in fake.messages if m.text.startswith("📘"))
    assert set(lessons) == {FIRST_CHAT + n for n in range(LEARNERS)}
    assert sum(lessons.values()) - LEARNERS <= sum(in_flight_at_kills)


async def cut_connections(database: Database) -> int:
    """End every other session on this database, as a server restart does; how many."""
    async with database.engine.connect() as connection:
        ended = await connection.execute(
            text(
                "SELECT COUNT(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        return int(ended.scalar_one())


async def recorded_polls(database: Database) -> set[str]:
    """Poll ids of the questions recorded as sent (a vote before that would find no question)."""
    async with database.engine.connect() as connection:
        found = await connection.execute(
            text("SELECT poll_id FROM delivery WHERE poll_id IS NOT NULL AND status = 'sent'")
        )
        return set(found.scalars())


def feedback_chats(fake: FakeTelegram) -> set[int]:
    """Chats that got the feedback to their vote."""
    return {m.chat_id for m in fake.messages if m.text.startswith(("✅", "❌"))}


@pytest.mark.postgresql
async def test_run_carries_on_when_the_database_drops_its_connections_mid_run(
    tmp_path: Path, database: Database, database_url: str, fake_telegram: FakeTelegram
):
    fake, learners = fake_telegram, 120
    env = await telegram_env(tmp_path, database, database_url, fake, learners)
    env["TELEGRAM_SEND_RATE"] = "100"  # lessons still going out while answers come in
    cuts, ended, voted = [90, 180, 270], [], set()  # cut after this many messages
    bot = await start_bot(env, tmp_path)
    try:
        async with asyncio.timeout(3 * WAIT):
            while len(feedback_chats(fake)) < learners or set(await statuses(database)) != {"sent"}:
                recorded = await recorded_polls(database)
                for message in list(fake.messages):
                    poll = message.poll
                    if poll is not None and poll["id"] in recorded and poll["id"] not in voted:
                        voted.add(poll["id"])
                        await fake.vote(message.chat_id, message, poll["options"][0]["text"])
                # Between two of its connections the bot may hold none: then cut at the next look.
                if (
                    cuts
                    and len(fake.messages) >= cuts[0]
                    and (count := await cut_connections(database))
                ):
                    cuts.pop(0)
                    ended.append(count)
                calls = len(fake.calls)
                with contextlib.suppress(TimeoutError):  # at most half a second between looks
                    await fake.until(lambda calls=calls: len(fake.calls) > calls, timeout=0.5)
        assert await bot.stopped() == 0, bot.err[-10:]
    finally:
        if bot.process.returncode is None:
            bot.process.kill()
    assert cuts == [], ended  # each of the three cuts ended some of the bot's connections
    told = [line for line in bot.err if re.search(CONNECTION_LOST, line)]
    assert told, bot.err[-10:]
    assert [line for line in bot.err if "Traceback" in line] == []

    kinds = Counter(
        ("lesson" if m.text.startswith("📘") else "poll" if m.poll else "feedback", m.chat_id)
        for m in fake.messages
    )
    assert set(kinds.values()) == {1}  # nothing missed, nothing twice
    assert len(kinds) == 3 * learners
    # Each vote's poll is marked closed too (an edit row, which Telegram shows by itself).
    assert await statuses(database) == Counter(sent=5 * learners)
    async with database.engine.connect() as connection:
        answers = await connection.execute(text("SELECT COUNT(*) FROM response"))
        waiting = await connection.execute(
            text("SELECT COUNT(*) FROM inbox WHERE handled_at IS NULL")
        )
        assert (answers.scalar_one(), waiting.scalar_one()) == (learners, 0)
