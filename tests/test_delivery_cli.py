"""`servicecoach deliver now`, `deliveries` and `run` from the command line."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from datetime import date, timedelta
from pathlib import Path

from sqlmodel import select

from bot.clock import SimulatedClock
from bot.coaching.calendar import send_instant
from bot.outbox.planner import plan_tick
from bot.transports import TransientError
from bot.transports.console import ConsoleTransport
from storage.models import DeliveryStatus, PersonStatus, Team
from tests.delivery_support import add_learner, dispatcher, rows
from tests.factories import MONDAY_9AM, add_pack, add_person, add_team
from tests.fakes.flaky_transport import FlakyTransport
from tests.process_support import SERVICECOACH


async def call(cli, *args: str):
    """Run the CLI in a worker thread: it starts its own event loop, as from a shell."""
    return await asyncio.to_thread(cli, *args)


async def cohort(database, *, whole_day: bool = False, **ada_fields) -> None:
    """Ada and Bea on team `front`, Cy on team `back`; a two-lesson pack.

    Lessons are one message unless `whole_day` (a quiz item and a reflection
    too): the real clock paces messages to one chat a second apart.
    """
    async with database.sessions() as session:
        lessons = await add_pack(session, lessons=2, types=("single",) if whole_day else ())
        for lesson in lessons:
            lesson.reflection = lesson.reflection if whole_day else None
        front, back = await add_team(session, "front"), await add_team(session, "back")
        await add_learner(session, "ada", team=front, **ada_fields)
        await add_learner(session, "bea", team=front)
        await add_learner(session, "cy", team=back)
        await session.commit()


async def test_deliver_now_twice_sends_once_and_the_scheduler_not_again(cli, database):
    await cohort(database, whole_day=True)
    first = await call(cli, "deliver", "now", "--learner", "ada")
    assert first.exit_code == 0, first.stderr
    assert "planned today's lesson for 1 learner(s): ada" in first.stdout
    assert "sent 3 message(s)" in first.stdout
    assert "📘 Lesson 1\n" in first.stdout  # the console transport printed it, as chat
    assert "[1] Transfer at once" in first.stdout

    again = await call(cli, "deliver", "now", "--learner", "ada")
    assert again.exit_code == 0
    assert "planned today's lesson for 0 learner(s)" in again.stdout
    assert "skipped 1: already planned today" in again.stdout
    assert "sent 0 message(s)" in again.stdout

    [lesson] = await rows(database, kind="lesson")
    assert lesson.status == DeliveryStatus.SENT
    # Later that day the scheduler's ticks find Ada's day done.
    day = lesson.local_date
    clock = SimulatedClock(send_instant(day, "09:00", "Europe/London") + timedelta(hours=1))
    if clock.now() < lesson.due_at:
        clock.set(lesson.due_at + timedelta(minutes=1))
    result = await plan_tick(sessions=database.sessions, clock=clock)
    assert "ada" not in result.planned
    console = ConsoleTransport()
    await dispatcher(database, clock, console).tick()
    assert console.to("console:ada") == []
    assert len(await rows(database, kind="lesson", person_id=lesson.person_id)) == 1


async def test_deliver_now_for_a_team_says_who_was_skipped_and_why(cli, database):
    await cohort(database, paused_until=date(9999, 12, 31))
    async with database.sessions() as session:
        front = (await session.exec(select(Team).where(Team.name == "front"))).one()
        await add_learner(session, "dee", team=front, status=PersonStatus.UNREACHABLE)
        await add_person(session, "eli", team=front)  # never enrolled
        await session.commit()
    result = await call(cli, "deliver", "now", "--team", "front")
    assert result.exit_code == 0, result.stderr
    assert "planned today's lesson for 1 learner(s): bea" in result.stdout
    assert "skipped 1: paused" in result.stdout
    assert "skipped 1: unreachable" in result.stdout
    assert "skipped 1: not enrolled in a pack" in result.stdout
    people = {row.person_id for row in await rows(database, kind="lesson")}
    assert len(people) == 1


async def test_deliver_now_for_everyone(cli, database):
    await cohort(database)
    result = await call(cli, "deliver", "now")
    assert result.exit_code == 0, result.stderr
    assert "planned today's lesson for 3 learner(s): ada, bea, cy" in result.stdout
    assert "sent 3 message(s)" in result.stdout


async def test_deliver_now_for_someone_unknown_is_one_line_and_changes_nothing(cli, database):
    await cohort(database)
    result = await call(cli, "deliver", "now", "--learner", "nobody")
    assert result.exit_code == 1
    assert result.stderr == "error: nobody called 'nobody': add them with `roster import` first\n"
    result = await call(cli, "deliver", "now", "--team", "nowhere")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no team called 'nowhere'")
    assert await rows(database) == []


async def test_deliveries_lists_the_outbox_with_filters(cli, database):
    await cohort(database)
    await call(cli, "deliver", "now", "--learner", "ada")
    table = await call(cli, "deliveries")
    assert table.exit_code == 0, table.stderr
    assert "lesson:" in table.stdout and "sent" in table.stdout
    assert "1 delivery\n" in table.stdout

    listed = json.loads((await call(cli, "deliveries", "--json", "--learner", "ada")).stdout)
    assert [row["kind"] for row in listed] and {row["status"] for row in listed} == {"sent"}
    assert {row["learner"] for row in listed} == {"ada"}
    day = listed[0]["key"].split(":")[1]
    assert len(json.loads((await call(cli, "deliveries", "--json", "--date", day)).stdout)) == 1
    past = await call(cli, "deliveries", "--json", "--date", "2001-01-01")
    assert json.loads(past.stdout) == []
    assert "0 deliveries" in (await call(cli, "deliveries", "--status", "failed")).stdout


async def test_deliveries_and_report_show_a_lesson_missed_after_a_day_of_failed_sends(
    cli, database
):
    await cohort(database)
    clock = SimulatedClock(MONDAY_9AM)
    await plan_tick(sessions=database.sessions, clock=clock)
    console = FlakyTransport()
    console.fail_always("console:bea", TransientError("502 bad gateway"))
    send = dispatcher(database, clock, console)
    await send.drain()
    waiting = await call(cli, "deliveries", "--status", "pending", "--json")
    assert [(row["learner"], row["reason"]) for row in json.loads(waiting.stdout)] == [
        ("bea", "502 bad gateway")
    ]
    clock.set(MONDAY_9AM + timedelta(hours=15, minutes=5))  # 00:05 on Tuesday in London
    await send.drain()

    result = await call(cli, "deliveries", "--status", "missed", "--json")
    assert result.exit_code == 0, result.stderr
    [missed] = json.loads(result.stdout)
    assert (missed["learner"], missed["key"], missed["status"]) == (
        "bea",
        "lesson:2026-11-23",
        "failed",
    )
    assert missed["reason"] == (
        "missed: could not be delivered before the end of the learner's day "
        "(last error: 502 bad gateway)"
    )
    assert missed["attempts"] == 2
    table = await call(cli, "deliveries", "--status", "failed")
    assert "gateway" in table.stdout  # wrapped to fit
    assert "1 delivery, 1 missed (not delivered by the end of the learner's day)" in table.stdout

    report = json.loads((await call(cli, "report", "--json")).stdout)
    assert {row["name"]: row["missed"] for row in report["learners"]} == {
        "ada": 0,
        "bea": 1,
        "cy": 0,
    }
    assert report["totals"]["missed"] == 1
    assert "1 messages missed" in (await call(cli, "report")).stdout


def test_deliveries_refuses_a_bad_date_or_status(cli):
    bad_date = cli("deliveries", "--date", "23/11/2026")
    assert (bad_date.exit_code, bad_date.stderr) == (
        1,
        "error: --date must be YYYY-MM-DD, not '23/11/2026'\n",
    )
    bad_status = cli("deliveries", "--status", "lost")
    assert bad_status.exit_code == 1
    assert bad_status.stderr.startswith("error: --status must be one of pending, claimed")


def test_run_migrates_starts_and_stops_cleanly_on_sigterm(tmp_path: Path):
    database = tmp_path / "run.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    process = subprocess.Popen(
        [SERVICECOACH, "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        line = process.stdout.readline()
        assert "servicecoach running on console" in line
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        process.kill()
    assert database.exists()  # migrated on start
