"""A large roster: imported in chunks with progress, and refused whole for one bad row."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.admin.roster import parse_roster
from bot.admin.roster_import import CHUNK_ROWS, PersonDefaults, import_roster
from storage.models import Delivery, Enrolment, Person, PersonStatus, Team
from tests.roster_support import add_pack, on_db, row_counts, write_csv

PEOPLE = 2_000
NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)
DEFAULTS = PersonDefaults(timezone="Europe/London", send_time="09:00")


def roster_lines(count: int = PEOPLE, *, send_time: str = "") -> list[str]:
    """`count` people on 7 teams: every 10th a pending Telegram invite, every 25th a coach."""
    lines = []
    for number in range(count):
        address = "telegram," if number % 10 == 0 else f"console,p{number}"
        role = "coach" if number % 25 == 0 else "learner"
        lines.append(
            f"Person {number},p{number}@example.org,{address},team-{number % 7},{role},,"
            f"{send_time},"
        )
    return lines


def snapshot(database_url: str) -> dict[str, object]:
    """Every table's row count and every person's columns."""

    async def _people(session):
        return sorted(tuple(p.model_dump().items()) for p in (await session.exec(select(Person))))

    return {"counts": row_counts(database_url), "people": on_db(database_url, _people)}


async def test_a_large_roster_is_written_chunk_by_chunk_with_one_progress_update_each(
    database, tmp_path: Path
):
    rows = parse_roster(write_csv(tmp_path / "staff.csv", *roster_lines()))
    updates: list[int] = []
    async with database.sessions.begin() as session:
        await add_pack(session, "care")
        summary = await import_roster(
            session,
            rows,
            source="staff.csv",
            defaults=DEFAULTS,
            sync=False,
            now=NOW,
            progress=updates.append,
        )

    assert updates == list(range(CHUNK_ROWS, PEOPLE + 1, CHUNK_ROWS))
    assert (summary.created, summary.updated, summary.unchanged) == (PEOPLE, 0, 0)
    assert summary.teams_created == [f"team-{n}" for n in range(7)]
    assert len(summary.invites) == PEOPLE // 10
    async with database.sessions() as session:
        people = {p.name: p for p in (await session.exec(select(Person))).all()}
        teams = {t.id: t.name for t in (await session.exec(select(Team))).all()}
        enrolments = (await session.exec(select(Enrolment))).all()
        welcomed = set(
            (await session.exec(select(Delivery.person_id).where(Delivery.kind == "notice"))).all()
        )
    assert len(people) == PEOPLE
    last = people[f"Person {PEOPLE - 1}"]
    assert (last.address, last.status, teams[last.team_id]) == (
        f"console:p{PEOPLE - 1}",
        PersonStatus.ACTIVE,
        f"team-{(PEOPLE - 1) % 7}",
    )
    invited = people["Person 1990"]
    assert (invited.status, invited.platform) == (PersonStatus.PENDING, "telegram")
    assert (invited.name, invited.invite_code) in summary.invites
    learners = {p.id for p in people.values() if p.role == "learner"}
    assert {e.person_id for e in enrolments} == learners
    assert {(e.pack_id, e.active, e.started_at) for e in enrolments} == {("care", True, NOW)}
    assert welcomed == {p.id for p in people.values() if p.id in learners and p.platform_id}


async def test_importing_the_same_large_roster_again_changes_nothing(database, tmp_path):
    rows = parse_roster(write_csv(tmp_path / "staff.csv", *roster_lines()))
    for expected in ((PEOPLE, 0), (0, PEOPLE)):
        async with database.sessions.begin() as session:
            summary = await import_roster(
                session, rows, source="staff.csv", defaults=DEFAULTS, sync=False, now=NOW
            )
        assert (summary.created, summary.unchanged) == expected
    async with database.sessions() as session:
        count = (await session.exec(select(func.count()).select_from(Person))).one()
    assert count == PEOPLE


@pytest.fixture
def imported(cli, database, database_url, tmp_path) -> dict[str, object]:
    """The large roster imported once through the CLI; the database as it then was."""
    on_db(database_url, lambda session: add_pack(session, "care"))
    result = cli("roster", "import", str(write_csv(tmp_path / "first.csv", *roster_lines())))
    assert result.exit_code == 0, result.stderr
    return snapshot(database_url)


def test_a_bad_row_near_the_end_leaves_the_database_unchanged(
    cli, imported, database_url, tmp_path
):
    lines = roster_lines(send_time="10:00")  # every row would change
    lines[-3] = lines[-3].replace(",10:00,", ",25:00,")
    roster = write_csv(tmp_path / "changed.csv", *lines)

    result = cli("roster", "import", str(roster))

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: {roster}:{PEOPLE - 1}: send_time '25:00' is not a time of day as HH:MM"
    )
    assert snapshot(database_url) == imported


def test_a_conflict_found_after_chunks_were_written_leaves_the_database_unchanged(
    cli, imported, database_url, tmp_path
):
    lines = [*roster_lines(send_time="10:00"), "Somebody New,new@example.org,console,new,x,,,,"]
    lines[-2] = lines[-2].replace(f"console,p{PEOPLE - 1}", "console,elsewhere")  # by email
    roster = write_csv(tmp_path / "changed.csv", *lines)

    result = cli("roster", "import", str(roster))

    assert result.exit_code == 1
    assert f"{roster}:{PEOPLE + 1}: p{PEOPLE - 1}@example.org is Person {PEOPLE - 1}" in (
        result.stderr
    )
    assert snapshot(database_url) == imported


def test_the_cli_shows_a_progress_bar_on_a_terminal(cli, database, monkeypatch, tmp_path):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # what Rich takes as a terminal

    result = cli("roster", "import", str(write_csv(tmp_path / "staff.csv", *roster_lines())))

    assert result.exit_code == 0, result.stderr
    assert f"{PEOPLE}/{PEOPLE}" in result.stderr
    assert result.stdout.startswith(f"{PEOPLE} created, 0 updated")
