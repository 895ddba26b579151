"""`teams set` and `teams list`: pack, coaches, calendar, working days and policy overrides."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from storage.models import Delivery, Enrolment, Person, Team
from tests.roster_support import add_pack, on_db, row_counts, write_csv

ROWS = (
    "Ada Lovelace,ada@example.org,console,ada,desk,,,,",
    "Ada Lovelace,ada2@example.org,console,ada2,phone,,,,",
    "Grace Hopper,grace@example.org,console,grace,phone,,,,",
)


@pytest.fixture
def staffed(cli, database, database_url, tmp_path) -> None:
    """Packs `care` and `phone`, an all-retired pack `old`, and three imported people."""

    async def packs(session):
        await add_pack(session, "care")
        await add_pack(session, "phone")
        await add_pack(session, "old", retired=True)

    on_db(database_url, packs)
    assert cli("roster", "import", str(write_csv(tmp_path / "r.csv", *ROWS))).exit_code == 0


def team(database_url: str, name: str) -> Team:
    """The stored team called `name`."""

    async def _go(session):
        return (await session.exec(select(Team).where(Team.name == name))).one()

    return on_db(database_url, _go)


def listed(cli) -> dict[str, dict]:
    """`teams list --json` by team name."""
    result = cli("teams", "list", "--json")
    assert result.exit_code == 0, result.stderr
    return {row["team"]: row for row in json.loads(result.stdout)}


def test_set_creates_a_team_with_documented_defaults(cli, database):
    result = cli("teams", "set", "night shift", "--create")

    assert result.exit_code == 0, result.stderr
    assert "team night shift created" in result.stdout
    assert listed(cli)["night shift"] == {
        "team": "night shift",
        "pack": None,
        "pack_assigned": False,
        "coaches": [],
        "calendar": None,
        "workdays": "mon-fri",
        "learners": 0,
        "policy_overrides": {},
    }


def test_pack_moves_the_teams_learners_keeping_history(cli, staffed, database_url):
    assert cli("teams", "set", "desk", "--pack", "care").exit_code == 0

    result = cli("teams", "set", "desk", "--pack", "phone")

    assert "1 learner(s) now on pack phone" in result.stdout
    enrolments = on_db(database_url, lambda s: _all(s, Enrolment))
    assert sorted((e.pack_id, e.active) for e in enrolments) == [("care", False), ("phone", True)]
    assert listed(cli)["desk"]["pack"] == "phone"


async def _all(session, model: type) -> list:
    """Every row of a table."""
    return list((await session.exec(select(model))).all())


def test_an_unknown_team_needs_create(cli, staffed, database_url):
    before = row_counts(database_url)

    result = cli("teams", "set", "dsek", "--workdays", "mon-thu")

    assert result.exit_code == 1
    assert result.stderr == "error: no team 'dsek' (see `teams list`); add --create to create it\n"
    assert row_counts(database_url) == before
    assert sorted(listed(cli)) == ["desk", "phone"]


def test_a_learner_becomes_coach_only_with_make_coach(cli, staffed, database_url):
    async def lesson_for_grace(session):
        grace = (await session.exec(select(Person).where(Person.name == "Grace Hopper"))).one()
        session.add(Delivery(person_id=grace.id, delivery_key="lesson:2026-11-23", kind="lesson"))

    on_db(database_url, lesson_for_grace)
    refused = cli("teams", "set", "desk", "--coach", "grace@example.org")

    assert refused.exit_code == 1
    assert refused.stderr == (
        "error: Grace Hopper (console:grace) is a learner; add --make-coach to make them "
        "a coach of desk (they stop getting lessons)\n"
    )
    assert listed(cli)["desk"]["coaches"] == []

    result = cli("teams", "set", "desk", "--coach", "grace@example.org", "--make-coach")

    assert result.exit_code == 0, result.stderr
    assert "coaches added: Grace Hopper (was a learner of phone)" in result.stdout
    (lesson,) = on_db(database_url, lambda s: _all(s, Delivery))
    assert (lesson.status, lesson.reason) == ("cancelled", "became a coach")
    row = listed(cli)["desk"]
    assert (row["coaches"], row["learners"]) == (["Grace Hopper"], 1)
    people = {p.name: p for p in on_db(database_url, lambda s: _all(s, Person))}
    assert people["Grace Hopper"].role == "coach"
    assert people["Grace Hopper"].team_id == team(database_url, "desk").id


def test_an_existing_coach_is_named_once_and_not_added_again(cli, staffed, database_url):
    cli("teams", "set", "desk", "--coach", "grace@example.org", "--make-coach")

    again = cli("teams", "set", "desk", "--coach", "Grace Hopper", "--coach", "console:grace")

    assert again.exit_code == 0, again.stderr
    assert again.stdout.splitlines() == [
        "team desk updated",
        "Grace Hopper is already a coach of desk",
    ]
    assert listed(cli)["desk"]["coaches"] == ["Grace Hopper"]


def test_calendar_workdays_and_policy_are_stored(cli, staffed, database_url):
    result = cli(
        "teams",
        "set",
        "desk",
        "--holidays",
        "gb-eng",
        "--workdays",
        "sun-thu",
        "--set",
        "review_cap=3",
        "--set",
        "signal_repeat_miss=true",
        "--set",
        "nudge_after_hours=3",
    )

    assert result.exit_code == 0, result.stderr
    row = listed(cli)["desk"]
    assert (row["calendar"], row["workdays"]) == ("GB-ENG", "sun-thu")
    assert row["policy_overrides"] == {"review_cap": 3, "signal_repeat_miss": True}
    stored = team(database_url, "desk")
    assert stored.workdays == "mon,tue,wed,thu,sun"
    assert (stored.holidays_country, stored.holidays_subdiv) == ("GB", "ENG")

    cli("teams", "set", "desk", "--holidays", "none", "--reset", "--set", "sla_working_days=2")

    row = listed(cli)["desk"]
    assert (row["calendar"], row["policy_overrides"]) == (None, {"sla_working_days": 2})


def test_list_shows_a_table(cli, staffed):
    cli("teams", "set", "desk", "--pack", "care", "--set", "review_cap=4")

    table = cli("teams", "list").stdout

    for text in ("desk", "care", "mon-fri", "review_cap=4", "phone", "defaults"):
        assert text in table


BAD_SETTINGS = [
    (("--pack", "nope"), "no pack 'nope' is loaded"),
    (("--pack", "old"), "pack 'old' is retired"),
    (("--coach", "Nobody Here"), "nobody called 'Nobody Here'"),
    (("--coach", "ada lovelace"), "matches several people: Ada Lovelace (console:ada"),
    (("--holidays", "XX"), "unknown holiday country 'XX'"),
    (("--holidays", "GB-ZZZ"), "GB has no holiday subdivision 'ZZZ' (known: ENG, NIR, SCT, WLS"),
    (("--workdays", "mon-funday"), "--workdays: unknown weekday"),
    (("--workdays", ","), "--workdays: no working days given"),
    (("--set", "review_cap=99"), "review_cap: Input should be less than or equal to 10"),
    (("--set", "desired_retention=high"), "desired_retention: Input should be a valid number"),
    (("--set", "review_cap"), "--set expects KEY=VALUE"),
    (("--set", "colour=blue"), "unknown policy setting 'colour'"),
]


@pytest.mark.parametrize(("options", "message"), BAD_SETTINGS)
def test_bad_settings_are_one_line_and_change_nothing(cli, staffed, database_url, options, message):
    cli("teams", "set", "desk", "--set", "review_cap=3")
    before = row_counts(database_url), team(database_url, "desk").model_dump()

    result = cli("teams", "set", "desk", "--workdays", "mon-thu", *options)

    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert (row_counts(database_url), team(database_url, "desk").model_dump()) == before


def test_a_new_team_is_not_created_when_its_settings_are_bad(cli, database, database_url):
    result = cli("teams", "set", "ghost", "--create", "--holidays", "Atlantis")

    assert result.exit_code == 1
    assert row_counts(database_url)["team"] == 0
