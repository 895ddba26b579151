"""`servicecoach demo`: a simulated cohort whose numbers come from the database."""

import json
import os
import re
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
from rich.console import Console
from sqlmodel import col, func, select
from typer.testing import CliRunner

from bot.cli import app
from bot.coaching.escalation import ASKED
from bot.config import Settings
from bot.demo.metrics import integrity, lesson_days
from bot.demo.personas import PERSONAS, ZONES, DemoLearner, cohort
from bot.demo.simulation import DemoConfig, office_after, simulate
from bot.demo.summary import print_human, summarise, transcript
from bot.messages import Outbound, OutboundKind
from bot.transports.console import ConsoleTransport
from storage.models import Calibration, Delivery, Escalation, EscalationEvent, Response
from tests.factories import add_pack, add_person, send
from tests.process_support import run_servicecoach

SMALL = ("--learners", "6", "--days", "6")  # long enough for a case to be resolved
COACH_WORDS = re.compile(
    r"answered (\d+) of (\d+) right in the last \d+ working days "
    r"where a typical learner gets \d+ \(z = -\d\.\d\)"
)


@cache
def demo(*args: str) -> tuple[int, str, str]:
    """Run `servicecoach demo ARGS` once per distinct ARGS (the runs are deterministic)."""
    result = CliRunner().invoke(app, ["demo", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_json_invariants_hold():
    code, stdout, _ = demo(*SMALL, "--json")
    assert code == 0
    data = json.loads(stdout)  # exactly one JSON object and nothing else
    assert data["learners"] == 6 and data["days"] == 6
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
        "learners_finished_pack": 1,  # three lesson days, three lessons
    }


async def test_every_graded_answer_of_the_demo_is_counted_in_the_calibration(database):
    settings = Settings(database_url=database.engine.url.render_as_string(hide_password=False))
    await simulate(DemoConfig(learners=6, days=5), database=database, settings=settings)
    async with database.sessions() as session:
        graded = select(func.count(Response.id)).where(col(Response.correct).is_not(None))
        counted = select(func.sum(Calibration.answers))
        # 89 answers: the last 39 are counted only by the write as the demo ends.
        assert (await session.exec(graded)).one() == (await session.exec(counted)).one() == 89


async def test_the_simulation_reports_each_day_as_it_begins(database):
    """The progress display learns which simulated day is running, each day once, in order."""
    days: list[int] = []
    settings = Settings(database_url=database.engine.url.render_as_string(hide_password=False))
    config = DemoConfig(learners=2, days=3)

    await simulate(config, database=database, settings=settings, on_day=days.append)

    assert days == [1, 2, 3]


def test_a_short_run_boasts_of_no_clock_change_or_holiday():
    """Monday to Friday of a week with neither: the summary says neither."""
    data = json.loads(demo(*SMALL, "--json")[1])
    assert data["clock_changes"] == [] and data["holidays"] == []
    human = " ".join(demo(*SMALL)[1].replace("│", " ").split())
    assert "What this shows" in human
    assert not re.search(r"daylight|clock|holiday|Good Friday", human, re.IGNORECASE)


def test_same_seed_same_human_output_as_a_process(tmp_path: Path):
    """Two `servicecoach demo` processes (different hash seeds) print the same report."""
    outputs = []
    for hash_seed in ("1", "2"):
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
            "COLUMNS": "120",
            "PYTHONHASHSEED": hash_seed,
        }
        done = run_servicecoach("demo", "--learners", "3", env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert "Transcript:" in outputs[0] and "What this shows" in outputs[0]
    assert outputs[0] == outputs[1]


def test_coach_office_time_skips_nights_weekends_and_holidays():
    london = ZoneInfo("Europe/London")
    days_off = holidays.country_holidays("GB", subdiv="ENG")
    thursday_late = datetime(2026, 4, 2, 16, 30, tzinfo=london)  # Good Friday follows
    later = office_after(thursday_late.astimezone(UTC), timedelta(hours=1), days_off=days_off)
    assert later.astimezone(london) == datetime(2026, 4, 7, 9, 30, tzinfo=london)
    night = datetime(2026, 3, 24, 2, 0, tzinfo=UTC)
    assert office_after(night, timedelta(0), days_off=days_off) == datetime(
        2026, 3, 24, 9, 0, tzinfo=UTC
    )


WORD = re.compile(r"[\w'’-]+")


async def test_two_weeks_show_the_clock_change_the_holiday_and_an_honest_coach(database):
    """London learners cross the spring clock change and Good Friday; the coach keeps hours."""
    settings = Settings(database_url=database.engine.url.render_as_string(hide_password=False))
    run = await simulate(DemoConfig(learners=8, days=12), database=database, settings=settings)
    summary = await summarise(database, run)
    assert summary["clock_changes"] == [
        {"zone": "Europe/London", "date": "2026-03-29", "clocks": "forward"}
    ]  # Sydney's change comes on 5 April, New York's came on 8 March
    assert summary["holidays"] == [{"date": "2026-04-03", "name": "Good Friday"}]

    output = rendered(lambda console: print_human(console, run, summary))
    flat = " ".join(output.replace("│", " ").split())
    assert "through the clock change in London (forward, 29 Mar)" in flat
    assert "no lesson on the GB-ENG holidays Good Friday (3 Apr)" in flat
    assert "Easter" not in flat and "Sydney (" not in flat
    amira = next(learner for learner in run.learners if learner.timezone == "Europe/London")
    log = " ".join(rendered(lambda console: console.print(transcript(run, amira.name))).split())
    assert f"Mon 23 Mar {amira.send_time} bot 📘" in log  # every line has its local date
    assert "Fri 3 Apr Good Friday (GB-ENG holiday): no lesson" in log
    assert (
        "Mon 30 Mar clocks went forward in London on Sun 29 Mar; "
        f"lesson still at {amira.send_time} local"
    ) in log

    source = [m.outbound.text for m in run.transport.sent]
    source += [line.text for lines in run.transcripts.values() for line in lines]
    words = {word for text in source for word in WORD.findall(text)}
    cut = [WORD.findall(before)[-1] for before in re.findall(r"(\S+)…", output + log)]
    assert cut and all(word in words for word in cut), cut  # shortened between words

    london = ZoneInfo("Europe/London")
    async with database.sessions() as session:
        events = (await session.exec(select(EscalationEvent))).all()
        cases = {case.id: case for case in (await session.exec(select(Escalation))).all()}
        deliveries = (await session.exec(select(Delivery).where(Delivery.kind == "notice"))).all()
    claims = [event for event in events if event.kind == "claimed"]
    assert claims and summary["escalations_claimed"] == len(claims)
    for claim in claims:  # the coach's office hours, in her own zone
        local = claim.at.astimezone(london)
        assert local.weekday() < 5 and time(9) <= local.time() <= time(17), local
    assert summary["longest_hours_to_claim"] >= summary["median_hours_to_claim"] > 0

    asked = {case.id for case in cases.values() if case.evidence["signal"] in ASKED}
    asked |= {
        event.escalation_id for event in events if event.kind in ("signal:request", "signal:help")
    }
    told = {
        delivery.escalation_id
        for delivery in deliveries
        if delivery.delivery_key.endswith(":claimed") and delivery.status == "sent"
    }
    assert told <= asked  # only a learner who asked hears that a coach picked it up
    assert set(cases) - asked  # signals escalated others, who heard first from the coach

    opened = summary["cases"]
    assert {case["persona"] for case in opened} <= {"struggling", "silent"}
    [scored, *_] = [case for case in opened if case["signal"] == "score"]
    assert COACH_WORDS.fullmatch(scored["reason"]), scored["reason"]
    why = f"#{scored['case']} {scored['learner']} (struggling): {scored['reason']}"
    assert " ".join(why.split()) in flat  # the report says why each case was opened


def rendered(draw) -> str:
    """What `draw(console)` prints, as plain text 100 columns wide."""
    console = Console(record=True, width=100)
    draw(console)
    return console.export_text()
