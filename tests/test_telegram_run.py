"""`servicecoach run` (and `invite create`) as processes against the fake Telegram Bot API.

In polling and in webhook mode: the lesson arrives, a vote gets its feedback,
and SIGTERM stops the bot cleanly, keeping everything it recorded.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.telegram_api import BOT_USERNAME, TOKEN, FakeTelegram, SentMessage
from tests.process_support import SERVICECOACH
from tests.test_run_process import WAIT, database_file, prepared

ADA = 4242
SECRET = "run-secret"


class Process:
    """A running `servicecoach` with its output collected line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.out: list[str] = []
        self.err: list[str] = []
        self._new_line = asyncio.Event()
        assert process.stdout is not None and process.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(process.stdout, self.out)),
            asyncio.create_task(self._read(process.stderr, self.err)),
        ]

    async def _read(self, stream: asyncio.StreamReader, into: list[str]) -> None:
        async for line in stream:
            into.append(line.decode().rstrip("\n"))
            self._new_line.set()

    async def line_matching(self, pattern: str) -> re.Match[str]:
        """The first stdout line matching `pattern`, waiting for it."""
        async with asyncio.timeout(WAIT):
            while True:
                for line in self.out:
                    if found := re.search(pattern, line):
                        return found
                self._new_line.clear()
                await self._new_line.wait()

    async def stopped(self) -> int:
        """Send SIGTERM and wait for the end; the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return await self.ended()

    async def ended(self) -> int:
        """Wait for the end and the last of the output; the exit code."""
        async with asyncio.timeout(WAIT):
            code = await self.process.wait()
            await asyncio.gather(*self._readers)
        return code


async def start(args: list[str], env: dict[str, str], *, cwd: Path | None = None) -> Process:
    """`servicecoach ARGS…` in `cwd` (default: the SQLite database's folder)."""
    process = await asyncio.create_subprocess_exec(
        SERVICECOACH,
        *args,
        env=env,
        cwd=cwd or database_file(env).parent,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return Process(process)


async def telegram_env(folder: Path, fake: FakeTelegram, **more: str) -> dict[str, str]:
    """Ada on Telegram with the shipped pack; the bot pointed at the fake."""
    env = await asyncio.to_thread(
        prepared, folder, [("Ada", str(ADA), "front")], platform="telegram"
    )
    return {**env, "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_BASE_URL": fake.base_url, **more}


def rows(env: dict[str, str], sql: str) -> list[tuple]:
    with sqlite3.connect(database_file(env)) as connection:
        return connection.execute(sql).fetchall()


def feedback(fake: FakeTelegram) -> list[SentMessage]:
    """The feedback messages Ada got (right or not quite)."""
    return [m for m in fake.to(ADA) if m.text.startswith(("✅", "❌"))]


async def answer_first_question(fake: FakeTelegram) -> None:
    """Vote in the first quiz poll (or press the first button) and wait for the feedback.

    The vote waits for the next message after the question, as a person would: by
    then the bot has recorded where the question went.
    """
    await fake.until(lambda: any(m.poll or m.buttons() for m in fake.to(ADA)), timeout=WAIT)
    question: SentMessage = next(m for m in fake.to(ADA) if m.poll or m.buttons())
    after = fake.to(ADA).index(question) + 1
    await fake.until(lambda: len(fake.to(ADA)) > after, timeout=WAIT)
    if question.poll is not None:
        await fake.vote(ADA, question, question.poll["options"][0]["text"])
    else:
        await fake.press(ADA, next(iter(question.buttons())))
    await fake.until(lambda: feedback(fake), timeout=WAIT)


@pytest.fixture
def fake(fake_telegram: FakeTelegram) -> FakeTelegram:
    """The fake Bot API of this test."""
    return fake_telegram


def check_clean_end(process: Process, code: int, env: dict[str, str]) -> None:
    assert code == 0, process.err[-10:]
    assert re.fullmatch(r"servicecoach stopped \(\d+ unsent message\(s\) .*\)", process.out[-1])
    assert [line for line in process.err if "Traceback" in line] == []
    assert [line for line in process.err if TOKEN in line] == []  # the token is a secret
    assert rows(env, "SELECT kind, status FROM delivery WHERE kind = 'lesson'") == [
        ("lesson", "sent")
    ]
    assert len(rows(env, "SELECT id FROM response")) == 1
    assert rows(env, "SELECT answers FROM calibration") == [(1,)]  # counted, at the latest on exit
    assert rows(env, "SELECT status FROM person") == [("active",)]


async def test_run_polls_sends_the_lesson_as_html_grades_a_vote_and_stops_on_sigterm(
    tmp_path, fake
):
    env = await telegram_env(tmp_path, fake)
    process = await start(["run"], env)
    try:
        await process.line_matching("servicecoach running on console, telegram")
        await fake.until(lambda: any(m.text.startswith("📘") for m in fake.to(ADA)), timeout=WAIT)
        await answer_first_question(fake)
        assert fake.sent("getUpdates")  # the vote came by long polling
        code = await process.stopped()
    finally:
        if process.process.returncode is None:
            process.process.kill()
    check_clean_end(process, code, env)


async def test_run_in_webhook_mode_takes_updates_on_its_web_server(tmp_path, fake):
    env = await telegram_env(
        tmp_path,
        fake,
        TELEGRAM_WEBHOOK_URL="https://bot.example.org/telegram/webhook",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
    )
    process = await start(["run"], env)
    try:
        health = await process.line_matching(r"health at (http://[^\s;]+)/healthz")
        fake.webhook_target = f"{health[1]}/telegram/webhook"
        await fake.until(lambda: any(m.text.startswith("📘") for m in fake.to(ADA)), timeout=WAIT)
        assert fake.webhook["secret_token"] == SECRET
        assert fake.sent("getUpdates") == []
        async with aiohttp.ClientSession() as client, client.get(f"{health[1]}/healthz") as got:
            assert (await got.json())["parts"]["telegram"] == "ok"
        wrong = {"update_id": 1, **fake.message_update(ADA, "/help")}
        assert await fake.post_webhook(wrong, secret="not-the-secret") == 403
        await answer_first_question(fake)
        code = await process.stopped()
    finally:
        if process.process.returncode is None:
            process.process.kill()
    check_clean_end(process, code, env)
    assert fake.webhook["url"] == "https://bot.example.org/telegram/webhook"  # kept on stop


async def test_run_with_a_refused_token_stops_with_one_line(tmp_path, fake):
    env = await telegram_env(tmp_path, fake)
    env["TELEGRAM_BOT_TOKEN"] = "123:not-our-token"
    process = await start(["run"], env)
    async with asyncio.timeout(WAIT):
        code = await process.process.wait()
        await asyncio.gather(*process._readers)
    assert code == 1
    assert process.err == [
        "error: cannot start telegram: Telegram refused the bot token: check TELEGRAM_BOT_TOKEN"
    ]


async def test_invite_create_prints_the_bots_deep_link(tmp_path, fake):
    env = await telegram_env(tmp_path, fake)
    process = await start(["invite", "create", "--team", "front", "--uses", "5"], env)
    async with asyncio.timeout(WAIT):
        assert await process.process.wait() == 0
        await asyncio.gather(*process._readers)
    code = re.search(r"invite code (\S+) for team front", process.out[0])[1]
    assert f"Telegram link: https://t.me/{BOT_USERNAME}?start={code}" in process.out


async def test_deliver_now_sends_through_the_configured_telegram_api(tmp_path, fake):
    env = await telegram_env(tmp_path, fake)
    process = await start(["deliver", "now", "--team", "front"], env)
    async with asyncio.timeout(WAIT):
        assert await process.process.wait() == 0, process.err
        await asyncio.gather(*process._readers)
    assert "planned today's lesson for 1 learner(s): Ada" in process.out
    assert any(m.text.startswith("📘") for m in fake.to(ADA))
    assert rows(env, "SELECT status FROM delivery WHERE kind = 'lesson'") == [("sent",)]


async def test_roster_import_prints_personal_invite_links_with_the_bots_name(tmp_path, fake):
    env = await telegram_env(tmp_path, fake)
    roster = tmp_path / "more.csv"
    roster.write_text("name,email,platform,team\nBob Jones,bob@example.org,telegram,front\n")
    process = await start(["roster", "import", str(roster)], env)
    async with asyncio.timeout(WAIT):
        assert await process.process.wait() == 0, process.err
        await asyncio.gather(*process._readers)
    assert "Telegram invites (pending until they press Start):" in process.out
    (code,) = rows(env, "SELECT invite_code FROM person WHERE name = 'Bob Jones'")[0]
    assert f"  Bob Jones: code {code}  https://t.me/{BOT_USERNAME}?start={code}" in process.out
