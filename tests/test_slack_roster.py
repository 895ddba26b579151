"""`roster import` with Slack configured: email-only rows are found with `users.lookupByEmail`."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.admin.roster import parse_roster
from bot.admin.roster_import import PersonDefaults, import_roster
from bot.clock import SimulatedClock
from bot.transports.slack import SlackTransport
from storage.models import Person, PersonStatus
from tests.factories import MONDAY_9AM
from tests.fakes.slack_api import BOT_TOKEN, Failure, FakeSlack
from tests.roster_support import on_db, write_csv
from tests.slack_support import ADA, BEA, fake_slack_in_a_thread


async def _people(session) -> dict[str, tuple[str | None, PersonStatus]]:
    return {p.name: (p.platform_id, p.status) for p in (await session.exec(select(Person))).all()}


def test_rows_with_an_email_are_found_in_slack_and_the_unknown_are_reported_not_dropped(
    database, cli, database_url, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    roster = write_csv(
        tmp_path / "staff.csv",
        "Ada Lovelace,ada@example.org,,,front,,,,",
        "Nobody Known,nobody@example.org,,,front,,,,",
        f"Bea Smith,,slack,{BEA},front,,,,",
    )
    with fake_slack_in_a_thread() as fake:
        fake.add_user(ADA, "Ada Lovelace", email="Ada@Example.org")
        fake.add_user(BEA, "Bea Smith")
        fake.fail("users.lookupByEmail", Failure(status=429, error="ratelimited", retry_after=0))
        monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
        monkeypatch.setenv("SLACK_API_BASE_URL", fake.base_url)

        result = cli("roster", "import", str(roster))

    assert result.exit_code == 0, result.stderr
    assert f"{roster}:3: nobody@example.org: nobody in Slack has this email" in result.stdout
    assert "pending until the running bot finds them in Slack by email: Nobody Known" in (
        result.stdout
    )
    assert [call.args["email"] for call in fake.calls if call.method == "users.lookupByEmail"] == [
        "ada@example.org",  # refused once with a 429, asked again
        "ada@example.org",
        "nobody@example.org",
    ]
    assert on_db(database_url, _people) == {
        "Ada Lovelace": (ADA, PersonStatus.ACTIVE),
        "Nobody Known": (None, PersonStatus.PENDING),
        "Bea Smith": (BEA, PersonStatus.ACTIVE),
    }


async def test_lookups_keep_to_their_slack_tier_and_a_429_waits_then_resolves_everyone(
    database, tmp_path
):
    emails = [f"p{n}@example.org" for n in range(60)]
    roster = write_csv(
        tmp_path / "staff.csv", *(f"P{n},{email},,,front,,,," for n, email in enumerate(emails))
    )
    clock = SimulatedClock(MONDAY_9AM)
    fake = FakeSlack(now=lambda: clock.now().timestamp())
    await fake.start()
    for n, email in enumerate(emails):
        fake.add_user(f"U0P{n:06d}", f"P{n}", email=email)
    fake.fail("users.lookupByEmail", Failure(status=429, error="ratelimited", retry_after=5))
    transport = SlackTransport(token=BOT_TOKEN, api_base_url=fake.base_url, clock=clock)
    try:
        async with database.sessions.begin() as session:
            summary = await import_roster(
                session,
                parse_roster(roster),
                source=str(roster),
                defaults=PersonDefaults("Europe/London", "09:00"),
                sync=False,
                now=clock.now(),
                lookup=transport.user_by_email,
            )
    finally:
        await fake.stop()

    assert (summary.created, summary.not_in_slack) == (60, [])
    async with database.sessions() as session:
        people = await _people(session)
    assert people == {f"P{n}": (f"U0P{n:06d}", PersonStatus.ACTIVE) for n in range(60)}
    asked = [call.at for call in fake.calls if call.method == "users.lookupByEmail"]
    assert len(asked) == 61  # the first was refused once and asked again
    assert asked[1] - asked[0] >= 5  # Slack's Retry-After
    busiest = max(sum(1 for at in asked if start <= at < start + 60) for start in asked)
    assert busiest == 50  # Tier 3: 50 lookups a minute, no more
