"""`roster import` with Slack configured: email-only rows are found with `users.lookupByEmail`."""

from __future__ import annotations

import pytest
from sqlmodel import select

from storage.models import Person, PersonStatus
from tests.fakes.slack_api import BOT_TOKEN, Failure
from tests.roster_support import on_db, write_csv
from tests.slack_support import ADA, BEA, fake_slack_in_a_thread


async def _people(session) -> dict[str, tuple[str | None, PersonStatus]]:
    return {p.name: (p.platform_id, p.status) for p in (await session.exec(select(Person))).all()}


def test_rows_with_an_email_are_found_in_slack_and_the_unknown_are_reported_not_dropped(
    cli, database_url, tmp_path, monkeypatch: pytest.MonkeyPatch
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
