"""What admins and coaches read: `report`, `escalations list`, `learner show|export|forget`."""

import asyncio
import csv
import io
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

import pytest
from sqlalchemy import update
from sqlmodel import select

from bot.app import Database
from bot.clock import SimulatedClock
from bot.conversation import inbox
from bot.conversation.router import InboundRouter
from bot.messages import Answer, CoachAction, Text
from storage.db import create_engine, session_factory
from storage.models import (
    Delivery,
    Enrolment,
    Escalation,
    InboxEntry,
    Item,
    Person,
    Reflection,
    Response,
    Role,
)
from tests.factories import add_pack, add_person, add_team, send

T = TypeVar("T")

MONDAY = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)  # in the past, so ages are positive


async def _send_day(session, person, lesson, number) -> Delivery:
    """Lesson `number` (0-based) and its quiz sent on day `number`; returns the quiz."""
    day, at = date(2025, 1, 6 + number), MONDAY + timedelta(days=number)
    await send(session, person, kind="lesson", day=day, sent_at=at, lesson_id=lesson.id)
    item = (await session.exec(select(Item).where(Item.lesson_id == lesson.id))).one()
    return await send(session, person, kind="quiz", day=day, sent_at=at, item=item)


async def seed(database: Database) -> Escalation:
    """ada finished a two-lesson pack; bob missed a question, asked for a coach, cora claimed."""
    async with database.sessions() as session:
        team = await add_team(session, "front", holidays_country="GB", holidays_subdiv="ENG")
        lessons = await add_pack(session, lessons=2)
        ada = await add_person(session, "ada", team=team)
        bob = await add_person(session, "bob", team=team, timezone="Asia/Kolkata")
        await add_person(session, "cora", team=team, role=Role.COACH)
        enrolment = Enrolment(person_id=ada.id, pack_id="care", started_at=MONDAY)
        session.add_all([enrolment, Enrolment(person_id=bob.id, pack_id="care", started_at=MONDAY)])
        ada_first = await _send_day(session, ada, lessons[0], 0)
        bob_first = await _send_day(session, bob, lessons[0], 0)
        reflection = await send(
            session,
            bob,
            kind="reflection",
            day=date(2025, 1, 6),
            sent_at=MONDAY,
            lesson_id=lessons[0].id,
        )
        await session.commit()
    clock = SimulatedClock(MONDAY + timedelta(minutes=30))
    service = InboundRouter(sessions=database.sessions, clock=clock)
    await service.handle(Answer(ada.address, "a1", ada_first.id, ("c1",)))
    await service.handle(Answer(bob.address, "b1", bob_first.id, ("c0",)))
    await service.handle(
        Text(bob.address, "b2", "Honestly I'm stuck with transfers", reflection.id)
    )
    async with database.sessions() as session:
        ada_second = await _send_day(session, ada, lessons[1], 1)
        enrolment.finished_at = MONDAY + timedelta(days=2)
        session.add(enrolment)
        await session.commit()
    clock.advance(timedelta(days=1))
    await service.handle(Answer(ada.address, "a2", ada_second.id, ("c2",)))
    clock.advance(timedelta(hours=2))
    async with database.sessions() as session:
        case = (await session.exec(select(Escalation))).one()
    await service.handle(CoachAction("console:cora", "c1", case.id, "claim"))
    return case


async def _on_database(url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` on a fresh engine, from a sync test."""
    engine = create_engine(url)
    try:
        return await work(Database(engine=engine, sessions=session_factory(engine)))
    finally:
        await engine.dispose()


def on_database(url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run async `work` against the test database from a sync test (the CLI runs its own loop)."""
    return asyncio.run(_on_database(url, work))


@pytest.fixture
def seeded(database, database_url) -> Escalation:
    """The seeded world; its one case."""
    return on_database(database_url, seed)


def rows_of(model: type) -> Callable[[Database], Awaitable[list]]:
    """Work that reads every row of `model`."""

    async def _read(database: Database) -> list:
        async with database.sessions() as session:
            return list((await session.exec(select(model))).all())

    return _read


def test_report_shows_progress_pack_completion_and_open_case(seeded, cli):
    result = cli("report")
    assert result.exit_code == 0, result.stderr
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if "│" in line[:3]}
    assert "2/2 finished" in lines["ada"] and "50%" in lines["ada"]
    assert "1/2" in lines["bob"] and f"#{seeded.id} claimed" in lines["bob"]
    assert "cora" not in lines  # coaches are not learners
    assert "2 learners, 1 finished the pack, 3 answers (33% right)" in result.stdout


def test_report_json_and_csv_carry_the_same_numbers(seeded, cli):
    data = json.loads(cli("report", "--json").stdout)
    by_name = {row["name"]: row for row in data["learners"]}
    assert by_name["ada"]["finished"] is True and by_name["ada"]["progress"] == "2/2 finished"
    assert by_name["ada"]["answers"] == 2 and by_name["ada"]["accuracy"] == 0.5
    assert by_name["bob"]["open_case"] == f"#{seeded.id} claimed"
    assert by_name["bob"]["reflections"] == 1 and by_name["bob"]["lessons_done"] == 1
    assert data["totals"] == {
        "learners": 2,
        "finished": 1,
        "answers": 3,
        "correct": 1,
        "accuracy": 0.333,
        "reviews_sent": 0,
        "reflections": 1,
        "missed": 0,
        "open_cases": 1,
    }
    rows = list(csv.DictReader(io.StringIO(cli("report", "--csv").stdout)))
    assert [row["name"] for row in rows] == ["ada", "bob"]
    assert rows[0]["finished"] == "True" and rows[1]["open_case"] == f"#{seeded.id} claimed"
    assert rows[1]["accuracy"] == "0.0" and rows[1]["lessons_total"] == "2"


def test_report_refuses_two_formats(cli, database):
    result = cli("report", "--csv", "--json")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: choose one of --csv and --json"


def test_escalations_list_filters_by_status(seeded, cli):
    table = cli("escalations", "list")
    assert table.exit_code == 0
    assert f"#{seeded.id}" in table.stdout and "bob" in table.stdout and "cora" in table.stdout
    assert "claimed" in table.stdout
    (row,) = json.loads(cli("escalations", "list", "--json").stdout)
    assert row["learner"] == "bob" and row["coach"] == "cora" and row["status"] == "claimed"
    assert row["reason"] == "asked for help in a reflection"
    assert row["claimed_at"] is not None and row["age_hours"] > 0
    assert cli("escalations", "list", "--status", "resolved").stdout.strip() == "no resolved cases"
    assert len(json.loads(cli("escalations", "list", "--status", "all", "--json").stdout)) == 1
    bad = cli("escalations", "list", "--status", "closed")
    assert bad.exit_code == 1 and bad.stderr.count("\n") == 1 and "--status" in bad.stderr


def test_learner_show_gives_a_coach_the_evidence(seeded, cli):
    result = cli("learner", "show", "bob")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "bob (console:bob), learner, active" in text
    assert "09:00 Asia/Kolkata, mon-fri, GB-ENG" in text
    assert "Lessons: 1/2" in text and "accuracy 0%" in text
    assert "L1-single (phone, new): 0.83 → wrong  “Transfer at once”" in text
    assert "[asks for help] “Honestly I'm stuck with transfers”" in text
    assert f"#{seeded.id} claimed: asked for help in a reflection" in text
    assert "claimed" in text.split("Cases:")[1] and "coach cora" in text


def test_learner_show_marks_a_finished_pack(seeded, cli):
    text = cli("learner", "show", "ada").stdout
    assert "Lessons: 2/2 finished (reviews only from now on)" in text
    assert "phone: 1/2 (50%)" in text and "Cases: none" in text


def test_unknown_learner_is_one_line(seeded, cli):
    for args in (("show", "zed"), ("export", "zed"), ("forget", "zed", "--yes")):
        result = cli("learner", *args)
        assert result.exit_code == 1
        assert result.stderr.startswith("error: nobody called 'zed'")
        assert result.stderr.count("\n") == 1


def test_export_and_forget(seeded, cli, database_url):
    exported = json.loads(cli("learner", "export", "bob").stdout)
    assert exported["person"]["name"] == "bob" and exported["reflections"][0]["asks_for_help"]
    refused = cli("learner", "forget", "bob")
    assert refused.exit_code == 1 and "--yes" in refused.stderr
    assert len(on_database(database_url, rows_of(Reflection))) == 1
    done = cli("learner", "forget", "bob", "--yes")
    assert done.exit_code == 0 and "forgot bob" in done.stdout
    assert on_database(database_url, rows_of(Reflection)) == []
    assert len(on_database(database_url, rows_of(Response))) == 3  # anonymous answers stay
    assert "bob" not in [person.name for person in on_database(database_url, rows_of(Person))]
    assert [row["name"] for row in json.loads(cli("report", "--json").stdout)["learners"]] == [
        "ada"
    ]
    assert json.loads(cli("escalations", "list", "--status", "all", "--json").stdout)[0][
        "learner"
    ].startswith("forgotten-")


def test_forget_discards_the_events_the_learner_sent_that_wait_unhandled(seeded, cli, database_url):
    async def store_failed_texts(database: Database) -> None:
        said = [
            Text(f"console:{name}", f"{name}-stuck", f"{name} says something private")
            for name in ("bob", "ada")
        ]
        async with database.sessions.begin() as session:
            await inbox.store_all(session, said, now=MONDAY)
            await session.exec(
                update(InboxEntry).values(attempts=inbox.MAX_ATTEMPTS, last_error="a bug")
            )

    on_database(database_url, store_failed_texts)
    assert cli("learner", "forget", "bob", "--yes").exit_code == 0
    kept = [entry for entry in on_database(database_url, rows_of(InboxEntry)) if entry.event]
    assert [entry.event["text"] for entry in kept] == ["ada says something private"]


def test_empty_database(cli, database):
    assert cli("report").stdout.strip().startswith("no learners yet")
    assert cli("escalations", "list").stdout.strip() == "no open cases"
    assert json.loads(cli("report", "--json").stdout)["totals"]["learners"] == 0


def test_a_learner_who_sent_stop_can_still_be_shown_exported_and_forgotten(
    seeded, cli, database_url
):
    async def stop_bob(database: Database) -> None:
        async with database.sessions() as session:
            bob = (await session.exec(select(Person).where(Person.name == "bob"))).one()
            bob.status = "inactive"
            await session.commit()

    on_database(database_url, stop_bob)
    shown = cli("learner", "show", "bob")
    assert shown.exit_code == 0, shown.stderr
    assert "bob" in shown.stdout
    exported = cli("learner", "export", "bob")
    assert exported.exit_code == 0 and "bob" in exported.stdout
    assert cli("learner", "forget", "bob", "--yes").exit_code == 0
    assert cli("learner", "show", "bob").exit_code == 1
