"""`servicecoach demo`: a simulated cohort whose numbers come from the database."""

import json
from datetime import UTC, date, datetime
from functools import cache

from typer.testing import CliRunner

from bot.cli import app
from bot.config import Settings
from bot.demo.metrics import integrity, lesson_days
from bot.demo.personas import PERSONAS, ZONES, DemoLearner, cohort
from bot.demo.simulation import DemoConfig, simulate
from bot.messages import Outbound, OutboundKind
from bot.transports.console import ConsoleTransport
from tests.factories import add_pack, add_person, send

SMALL = ("--learners", "6", "--days", "5")


@cache
def demo(*args: str) -> tuple[int, str, str]:
    """Run `servicecoach demo ARGS` once per distinct ARGS (the runs are deterministic)."""
    result = CliRunner().invoke(app, ["demo", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_json_invariants_hold():
    code, stdout, _ = demo(*SMALL, "--json")
    assert code == 0
    data = json.loads(stdout)  # exactly one JSON object and nothing else
    assert data["learners"] == 6 and data["days"] == 5
    assert data["missed_deliveries"] == 0 and data["duplicate_deliveries"] == 0
    assert data["unexpected_deliveries"] == 0
    assert data["deliveries_sent"] == data["deliveries_expected"] > 0
    assert data["escalations_opened"] >= 1 and data["escalations_resolved"] >= 1
    assert data["escalations_claimed"] >= data["escalations_resolved"]
    assert sum(data["escalation_reasons"].values()) == data["escalations_opened"]
    assert data["answers"] > 0 and 0 < data["accuracy"] < 1
    assert data["reviews_sent"] > 0 and data["reflections"] > 0
    assert len(data["timezones"]) >= 3


def test_same_seed_same_output_other_seed_differs():
    first = demo(*SMALL, "--json")
    again = CliRunner().invoke(app, ["demo", *SMALL, "--json"], catch_exceptions=False)
    assert again.stdout == first[1]
    other = json.loads(demo(*SMALL, "--seed", "2", "--json")[1])
    assert other != json.loads(first[1])
    assert other["missed_deliveries"] == 0 and other["duplicate_deliveries"] == 0


def test_human_output_tells_the_story_and_keeps_the_data(tmp_path):
    kept = tmp_path / "demo.db"
    code, stdout, _ = demo(*SMALL, "--db", str(kept))
    assert code == 0
    assert "Transcript:" in stdout and "taps" in stdout and "❓ Quiz" in stdout
    assert "Delivery integrity:" in stdout and "0 missed, 0 duplicates" in stdout
    assert "What this shows" in stdout and "reached the coach" in stdout
    report = CliRunner().invoke(
        app, ["report", "--json"], env={"DATABASE_URL": f"sqlite:///{kept}"}
    )
    learners = json.loads(report.stdout)["learners"]
    assert len(learners) == 6 and all(row["answers"] or row["lessons_done"] for row in learners)
    again = CliRunner().invoke(app, ["demo", "--db", str(kept)])
    assert again.exit_code == 1 and again.stderr.startswith("error: ") and "exists" in again.stderr


def test_cohort_mixes_personas_and_timezones():
    people = cohort(24, seed=1)
    assert {p.persona.key for p in people} == set(PERSONAS)
    assert {p.timezone for p in people} == set(ZONES)
    assert cohort(24, seed=1) == people and cohort(24, seed=2) != people


def test_lesson_days_skip_weekends_and_easter_across_dst():
    london = DemoLearner("Ann", PERSONAS["average"], "Europe/London", "09:00")
    start, end = datetime(2026, 3, 28, tzinfo=UTC), datetime(2026, 4, 9, tzinfo=UTC)
    days = lesson_days(london, start=start, end=end, calendar=("GB", "ENG"), lessons=29)
    assert date(2026, 3, 30) in days  # the Monday after the clocks go forward
    assert date(2026, 4, 3) not in days and date(2026, 4, 6) not in days  # Good Friday, Easter Mon
    workdays = [(3, 30), (3, 31), (4, 1), (4, 2), (4, 7), (4, 8)]
    assert days == [date(2026, month, day) for month, day in workdays]
    assert lesson_days(london, start=start, end=end, calendar=("GB", "ENG"), lessons=2) == days[:2]


async def test_integrity_counts_a_missed_day_and_a_repeated_lesson(database):
    learner = DemoLearner("ada", PERSONAS["diligent"], "Europe/London", "09:00")
    async with database.sessions() as session:
        lessons = await add_pack(session, lessons=3)
        ada = await add_person(session, "ada")
        monday = datetime(2026, 3, 23, 9, tzinfo=UTC)
        for day in (date(2026, 3, 23), date(2026, 3, 24)):  # lesson 1 twice, Wednesday nothing
            await send(
                session, ada, kind="lesson", day=day, sent_at=monday, lesson_id=lessons[0].id
            )
        await session.commit()
        transport = ConsoleTransport()
        for _ in range(2):
            await transport.send(ada.address, Outbound(OutboundKind.LESSON, "x", delivery_id=7))
        numbers = await integrity(
            session,
            learners=[learner],
            start=datetime(2026, 3, 23, tzinfo=UTC),
            end=datetime(2026, 3, 25, 12, tzinfo=UTC),
            calendar=("GB", "ENG"),
            lessons=3,
            transport=transport,
        )
    assert numbers == {
        "deliveries_expected": 3,
        "deliveries_sent": 2,
        "missed_deliveries": 1,
        "duplicate_deliveries": 2,  # the same lesson on two days, one message sent twice
        "unexpected_deliveries": 0,
    }


async def test_the_simulation_reports_each_day_as_it_begins(database):
    """The progress display learns which simulated day is running, each day once, in order."""
    days: list[int] = []
    settings = Settings(database_url=database.engine.url.render_as_string(hide_password=False))
    config = DemoConfig(learners=2, days=3)

    await simulate(config, database=database, settings=settings, on_day=days.append)

    assert days == [1, 2, 3]
