"""Roster import: people, teams and enrolments from a CSV file, idempotently."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from storage.models import Delivery, DeliveryStatus, Enrolment, Person, PersonStatus, Team
from tests.roster_support import add_pack, on_db, row_counts, write_csv

ROWS = (
    "Ada Lovelace,ada@example.org,console,ada,desk,learner,Europe/Paris,8:30,fr",
    "Grace Hopper,grace@example.org,console,grace,desk,coach,,,",
    "Bob Baker,bob@example.org,telegram,,desk,,,,",
    "Cat Cole,cat@example.org,,,phone,,,,",
    "Dan Dale,,telegram,42,phone,learner,,,",
)


def people(database_url: str) -> dict[str, Person]:
    """Every person by name."""

    async def _go(session):
        return {p.name: p for p in (await session.exec(select(Person))).all()}

    return on_db(database_url, _go)


def rows_of(database_url: str, model: type) -> list:
    """Every row of one table."""

    async def _go(session):
        return list((await session.exec(select(model))).all())

    return on_db(database_url, _go)


@pytest.fixture
def one_pack(database, database_url):
    """The database with a single pack, `care`, loaded."""
    on_db(database_url, lambda session: add_pack(session, "care"))


def test_import_creates_people_teams_and_enrolments(cli, one_pack, database_url, tmp_path):
    roster = write_csv(tmp_path / "people.csv", *ROWS)

    result = cli("roster", "import", str(roster))

    assert result.exit_code == 0, result.stderr
    assert "5 created, 0 updated, 0 unchanged, 0 deactivated" in result.stdout
    found = people(database_url)
    ada = found["Ada Lovelace"]
    assert (ada.platform, ada.platform_id, ada.status) == ("console", "ada", PersonStatus.ACTIVE)
    assert (ada.timezone, ada.send_time, ada.language) == ("Europe/Paris", "08:30", "fr")
    assert found["Grace Hopper"].role == "coach"
    assert found["Cat Cole"].platform == "slack"
    assert found["Cat Cole"].status == PersonStatus.PENDING
    assert "Cat Cole" in result.stdout
    bob = found["Bob Baker"]
    assert bob.status == PersonStatus.PENDING
    assert f"https://t.me/<your-bot>?start={bob.invite_code}" in result.stdout
    assert {team.name for team in rows_of(database_url, Team)} == {"desk", "phone"}
    enrolled = {e.person_id for e in rows_of(database_url, Enrolment) if e.pack_id == "care"}
    learners = {"Ada Lovelace", "Bob Baker", "Cat Cole", "Dan Dale"}
    assert enrolled == {found[name].id for name in learners}
    welcomed = {d.person_id for d in rows_of(database_url, Delivery) if d.delivery_key == "welcome"}
    assert welcomed == {ada.id, found["Dan Dale"].id}


def test_second_import_changes_nothing(cli, one_pack, database_url, tmp_path):
    roster = write_csv(tmp_path / "people.csv", *ROWS)
    first = cli("roster", "import", str(roster))
    counts = row_counts(database_url)
    codes = {p.name: p.invite_code for p in people(database_url).values()}

    again = cli("roster", "import", str(roster))

    assert again.exit_code == 0
    assert "0 created, 0 updated, 5 unchanged, 0 deactivated" in again.stdout
    assert row_counts(database_url) == counts
    assert {p.name: p.invite_code for p in people(database_url).values()} == codes
    assert first.stdout.count("t.me/") == again.stdout.count("t.me/") == 1


def test_changed_row_is_updated_and_blank_cells_keep_what_is_stored(
    cli, one_pack, database_url, tmp_path
):
    cli("roster", "import", str(write_csv(tmp_path / "a.csv", *ROWS)))

    async def learner_moves_own_send_time(session):
        dan = (await session.exec(select(Person).where(Person.name == "Dan Dale"))).one()
        dan.send_time = "07:15"

    on_db(database_url, learner_moves_own_send_time)
    changed = (ROWS[0].replace("8:30", "10:00"), *ROWS[1:])

    result = cli("roster", "import", str(write_csv(tmp_path / "b.csv", *changed)))

    assert "0 created, 1 updated, 4 unchanged" in result.stdout
    found = people(database_url)
    assert found["Ada Lovelace"].send_time == "10:00"
    assert found["Dan Dale"].send_time == "07:15"


def test_defaults_for_new_people_come_from_settings(
    cli, database, database_url, monkeypatch, tmp_path
):
    monkeypatch.setenv("DEFAULT_TIMEZONE", "America/Chicago")
    monkeypatch.setenv("DEFAULT_SEND_TIME", "08:45")

    result = cli("roster", "import", str(write_csv(tmp_path / "dan.csv", ROWS[4])))

    assert result.exit_code == 0, result.stderr
    dan = people(database_url)["Dan Dale"]
    assert (dan.timezone, dan.send_time) == ("America/Chicago", "08:45")
    assert "not enrolled" in result.stdout


def test_pending_telegram_person_becomes_active_when_their_chat_id_is_known(
    cli, one_pack, database_url, tmp_path
):
    cli("roster", "import", str(write_csv(tmp_path / "a.csv", ROWS[2])))

    result = cli(
        "roster",
        "import",
        str(write_csv(tmp_path / "b.csv", ROWS[2].replace(",,desk", ",77,desk"))),
    )

    assert "0 created, 1 updated" in result.stdout
    bob = people(database_url)["Bob Baker"]
    assert (bob.address, bob.status, bob.invite_code) == ("telegram:77", "active", None)
    welcome = [d for d in rows_of(database_url, Delivery) if d.person_id == bob.id]
    assert [d.delivery_key for d in welcome] == ["welcome"]


def add_delivery(database_url: str, name: str, key: str, status: str) -> None:
    """Give the named person one delivery in the given status."""

    async def _go(session):
        person = (await session.exec(select(Person).where(Person.name == name))).one()
        session.add(Delivery(person_id=person.id, delivery_key=key, kind="lesson", status=status))

    on_db(database_url, _go)


def test_sync_deactivates_missing_people_of_listed_teams(cli, one_pack, database_url, tmp_path):
    cli("roster", "import", str(write_csv(tmp_path / "all.csv", *ROWS)))
    add_delivery(database_url, "Ada Lovelace", "lesson:2026-11-23", DeliveryStatus.SENT)
    add_delivery(database_url, "Ada Lovelace", "lesson:2026-11-24", DeliveryStatus.PENDING)
    desk_without_ada = write_csv(tmp_path / "desk.csv", *ROWS[1:3])

    plain = cli("roster", "import", str(desk_without_ada))
    assert "0 deactivated" in plain.stdout
    synced = cli("roster", "import", str(desk_without_ada), "--sync")

    assert synced.exit_code == 0
    assert "0 created, 0 updated, 2 unchanged, 1 deactivated" in synced.stdout
    found = people(database_url)
    assert found["Ada Lovelace"].status == PersonStatus.INACTIVE
    assert found["Dan Dale"].status == PersonStatus.ACTIVE  # team phone is not in the file
    ada_rows = {
        d.delivery_key: d
        for d in rows_of(database_url, Delivery)
        if d.person_id == found["Ada Lovelace"].id
    }
    assert ada_rows["lesson:2026-11-24"].status == DeliveryStatus.CANCELLED
    assert ada_rows["lesson:2026-11-24"].reason == "removed from roster"
    assert ada_rows["lesson:2026-11-23"].status == DeliveryStatus.SENT
    assert len(ada_rows) == 3  # history kept: welcome, sent lesson, cancelled lesson


def test_person_back_on_the_roster_is_active_again(cli, one_pack, database_url, tmp_path):
    cli("roster", "import", str(write_csv(tmp_path / "all.csv", *ROWS)))
    cli("roster", "import", str(write_csv(tmp_path / "desk.csv", *ROWS[1:3])), "--sync")

    result = cli("roster", "import", str(write_csv(tmp_path / "back.csv", *ROWS[:3])), "--sync")

    assert "0 created, 1 updated, 2 unchanged, 0 deactivated" in result.stdout
    assert people(database_url)["Ada Lovelace"].status == PersonStatus.ACTIVE
    welcomes = [d for d in rows_of(database_url, Delivery) if d.delivery_key == "welcome"]
    assert len(welcomes) == 2  # Ada and Dan, once each


async def test_import_roster_directly_keeps_one_transaction(database, tmp_path):
    from bot.admin.roster import parse_roster
    from bot.admin.roster_import import PersonDefaults, import_roster

    rows = parse_roster(write_csv(tmp_path / "people.csv", *ROWS))
    now = datetime(2026, 11, 23, 9, tzinfo=UTC)
    defaults = PersonDefaults(timezone="Europe/London", send_time="09:00")
    async with database.sessions.begin() as session:
        await add_pack(session, "care")
        summary = await import_roster(
            session, rows, source="people.csv", defaults=defaults, sync=False, now=now
        )
    assert (summary.created, summary.teams_created) == (5, ["desk", "phone"])
    assert [name for name, _ in summary.invites] == ["Bob Baker"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{8,16}", summary.invites[0][1])
    assert summary.pending_slack == ["Cat Cole"]
    async with database.sessions() as session:
        welcome = (await session.exec(select(Delivery))).first()
    assert welcome is not None and welcome.due_at == now
