"""`servicecoach run` and `deliver now` as the processes people start, on a SQLite file.

The database is prepared with the CLI, as a new user would: `packs load`,
`roster import`, `teams set`. Output is read line by line with a deadline, so a
slow machine makes these tests slower, never flaky.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from bot.cli import app
from bot.outbox.dispatcher import STOPPED
from tests.process_support import SERVICECOACH

WAIT = 60.0  # seconds: generous, for a loaded two-core machine
ZONES = ("Europe/London", "Asia/Tokyo", "America/New_York")


def zone_well_into_its_day() -> str:
    """A timezone where today's 00:00 send time has passed and today lasts a while yet."""
    now = datetime.now(UTC)
    for zone in ZONES:
        local = now.astimezone(ZoneInfo(zone))
        if 1 <= local.hour <= 22:
            return zone
    raise AssertionError("no zone is well into its day")  # 3 zones 9+ hours apart: never


def prepared(
    folder: Path,
    people: Iterable[tuple[str, str, str]],
    *,
    platform: str = "console",
    database_url: str | None = None,
    pack: str = "service-everyone",
) -> dict[str, str]:
    """A new user's database (in `folder`, unless `database_url` names an empty migrated one):
    the pack (the shipped one by default), a roster, teams working every day.

    `people` are (name, id on `platform`, team); everyone's send time has passed today.
    Returns the environment for the commands.
    """
    database_url = database_url or f"sqlite+aiosqlite:///{folder / 'bot.db'}"
    env = {**os.environ, "DATABASE_URL": database_url, "HTTP_PORT": "0"}  # any free port
    zone = zone_well_into_its_day()
    roster = folder / "staff.csv"
    lines = ["name,platform,platform_id,team,timezone,send_time"]
    lines += [f"{name},{platform},{handle},{team},{zone},00:00" for name, handle, team in people]
    roster.write_text("\n".join(lines) + "\n")
    teams = sorted({team for _, _, team in people})
    runner = CliRunner()
    for args in (
        ["db", "upgrade"],
        ["packs", "load", pack],
        ["roster", "import", str(roster)],
        *(["teams", "set", team, "--workdays", "mon-sun"] for team in teams),
    ):
        result = runner.invoke(app, args, env=env, catch_exceptions=False)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return env


def database_file(env: dict[str, str]) -> Path:
    """The SQLite file the commands use."""
    return Path(env["DATABASE_URL"].removeprefix("sqlite+aiosqlite:///"))


def outbox(env: dict[str, str]) -> list[dict[str, object]]:
    """Every outbox row with its person's console id."""
    with sqlite3.connect(database_file(env)) as connection:
        connection.row_factory = sqlite3.Row
        found = connection.execute(
            "SELECT person.platform_id AS who, delivery.* FROM delivery"
            " JOIN person ON person.id = delivery.person_id"
        )
        return [dict(row) for row in found]


def start(args: list[str], env: dict[str, str], *, stderr: int) -> subprocess.Popen[str]:
    """`servicecoach ARGS…` from this virtualenv, in the database's folder, stdout piped."""
    folder = database_file(env).parent
    return subprocess.Popen(
        [SERVICECOACH, *args], stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, cwd=folder
    )


class Lines:
    """A stream's lines, read in a thread, waited for with a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        """Queue every line, then None at the end."""
        try:
            for line in stream:
                self._queue.put(line.rstrip("\n"))
        except OSError:  # a terminal's end reads as an error once the process is gone
            pass
        finally:
            self._queue.put(None)

    def _next(self, deadline: float) -> str | None:
        """The next line (None at the end); fail if none comes before `deadline`."""
        try:
            return self._queue.get(timeout=max(deadline - time.monotonic(), 0))
        except queue.Empty:
            raise AssertionError(f"timed out; last lines: {self.seen[-15:]}") from None

    def until(self, done: Callable[[list[str]], bool], *, timeout: float = WAIT) -> None:
        """Read lines until `done(lines so far)`; fail if the stream ends or time runs out."""
        deadline = time.monotonic() + timeout
        while not done(self.seen):
            line = self._next(deadline)
            if line is None:
                raise AssertionError(f"output ended; last lines: {self.seen[-15:]}")
            self.seen.append(line)

    def to_the_end(self, *, timeout: float = WAIT) -> list[str]:
        """Every line until the stream ends."""
        deadline = time.monotonic() + timeout
        while (line := self._next(deadline)) is not None:
            self.seen.append(line)
        return self.seen


def lessons_to(lines: list[str]) -> set[str]:
    """The console ids a lesson (📘) was printed to."""
    to, got = "", set()
    for line in lines:
        if line.startswith("→ console:"):
            to = line.removeprefix("→ console:")
        elif line.startswith("📘"):
            got.add(to)
    return got


def test_run_sends_todays_lessons_by_itself_and_stops_cleanly_on_sigterm(tmp_path: Path):
    env = prepared(tmp_path, [("Ada Lovelace", "ada", "front"), ("Bea Smith", "bea", "front")])
    process = start(["run"], env, stderr=subprocess.PIPE)
    try:
        out, err = Lines(process.stdout), Lines(process.stderr)
        out.until(lambda lines: lessons_to(lines) == {"ada", "bea"})
        health = urllib.request.urlopen(
            re.search(r"health at (http:[^\s;]+)", out.seen[0])[1], timeout=WAIT
        )
        process.send_signal(signal.SIGTERM)
        lines = out.to_the_end()
        assert process.wait(timeout=WAIT) == 0
    finally:
        process.kill()
    assert "servicecoach running on console" in lines[0]
    assert health.status == 200
    assert json.load(health) == {
        "status": "ok",
        "parts": {"database": "ok", "scheduler": "ok", "console": "ok"},
    }
    stopped = re.fullmatch(r"servicecoach stopped \((\d+) unsent message\(s\) .*\)", lines[-1])
    assert stopped, lines[-5:]
    problems = [line for line in err.to_the_end() if "Traceback" in line or "awaited" in line]
    assert problems == []

    rows = outbox(env)
    lessons = {row["who"]: row["status"] for row in rows if row["kind"] == "lesson"}
    assert lessons == {"ada": "sent", "bea": "sent"}
    assert [row for row in rows if row["status"] == "claimed"] == []
    put_back = [row for row in rows if row["status"] == "pending" and row["reason"] == STOPPED]
    assert len(put_back) == int(stopped[1])


def test_deliver_now_as_a_process_sends_only_to_the_chosen_and_shows_progress(tmp_path: Path):
    env = prepared(
        tmp_path,
        [("Ada Lovelace", "ada", "front"), ("Bea Smith", "bea", "front"), ("Cy", "cy", "back")],
    )
    terminal, other_end = os.openpty()  # stderr is a terminal: the progress shows there
    process = start(["deliver", "now", "--team", "front"], env, stderr=other_end)
    os.close(other_end)
    try:
        shown = Lines(os.fdopen(terminal, errors="replace"))
        printed = Lines(process.stdout).to_the_end()
        assert process.wait(timeout=WAIT) == 0
    finally:
        process.kill()
    progress = " ".join(shown.to_the_end())
    assert "planning" in progress and "sending" in progress and "2/2" in progress
    assert lessons_to(printed) == {"ada", "bea"}
    assert "planned today's lesson for 2 learner(s): Ada Lovelace, Bea Smith" in printed
    sent = int(re.search(r"sent (\d+) message", "\n".join(printed))[1])

    rows = outbox(env)
    assert [row for row in rows if row["status"] == "claimed"] == []
    assert sent == len([row for row in rows if row["status"] == "sent"])
    assert {row["who"] for row in rows if row["status"] == "sent"} == {"ada", "bea"}
    # Cy, in another team, keeps his welcome message for the running bot to send.
    assert [(row["kind"], row["status"]) for row in rows if row["who"] == "cy"] == [
        ("notice", "pending")
    ]
