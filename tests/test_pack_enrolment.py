"""`packs load` after `roster import`: the waiting learners are enrolled, and then planned."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlmodel import select

from bot.clock import SimulatedClock
from bot.outbox.planner import plan_tick
from storage.db import create_engine, session_factory
from storage.models import Delivery
from tests.packs import SAMPLE, row_counts
from tests.roster_support import write_csv

MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # past 09:00 in Europe/London
ROSTER = (
    "Ana,,console,ana,housing,,Europe/London,09:00,",
    "Ben,,console,ben,housing,,Europe/London,09:00,",
    "Cy,,console,cy,benefits,,Europe/London,09:00,",
    "Dee,,console,dee,housing,coach,Europe/London,09:00,",
)


def _plan_monday(database_url: str) -> tuple[list[str], set[tuple[int, str]]]:
    """Run the planner on Monday noon; who it planned and every lesson row's key."""

    async def _go() -> tuple[list[str], set[tuple[int, str]]]:
        engine = create_engine(database_url)
        try:
            sessions = session_factory(engine)
            result = await plan_tick(sessions=sessions, clock=SimulatedClock(MONDAY_NOON))
            async with sessions() as session:
                lessons = select(Delivery.person_id, Delivery.delivery_key).where(
                    Delivery.kind == "lesson"
                )
                return result.planned, set((await session.exec(lessons)).all())
        finally:
            await engine.dispose()

    return asyncio.run(_go())


def test_roster_first_then_pack_enrols_the_learners_and_they_get_lessons(
    cli, database, database_url, tmp_path
):
    imported = cli("roster", "import", str(write_csv(tmp_path / "staff.csv", *ROSTER)))
    assert "3 learner(s) not enrolled" in imported.stdout
    before = row_counts(database_url)

    dry = cli("packs", "load", str(SAMPLE), "--dry-run")

    assert dry.stdout.splitlines()[-2:] == [
        "would enrol 3 learners of teams benefits, housing",
        "dry run: nothing written",
    ]
    assert row_counts(database_url) == before

    loaded = cli("packs", "load", str(SAMPLE))

    assert loaded.exit_code == 0, loaded.stderr
    assert loaded.stdout.splitlines()[-2:] == [
        "loaded sample-pack 1.0",
        "enrolled 3 learners of teams benefits, housing",
    ]
    assert cli("packs", "load", str(SAMPLE)).stdout.splitlines()[-1] == "no changes"

    planned, lessons = _plan_monday(database_url)

    assert sorted(planned) == ["Ana", "Ben", "Cy"]
    assert len(lessons) == 3 and {key for _, key in lessons} == {"lesson:2026-11-23"}
