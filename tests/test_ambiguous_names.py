"""A name several people share is refused with addresses that tell them apart."""

from __future__ import annotations

import pytest

from tests.roster_support import write_csv

SAMS = (
    "Sam,,console,sam1,desk,,,,",
    "Sam,sam.t@example.org,telegram,,desk,,,,",
    "Sam,sam.s@example.org,slack,U123,desk,,,,",
)


@pytest.fixture
def sams(cli, database, tmp_path) -> None:
    """Three learners called Sam: on the console, a pending Telegram invite, on Slack."""
    assert cli("roster", "import", str(write_csv(tmp_path / "r.csv", *SAMS))).exit_code == 0


@pytest.mark.parametrize(
    "args",
    [
        ("learner", "show", "Sam"),
        ("learner", "export", "Sam"),
        ("learner", "forget", "Sam", "--yes"),
        ("teams", "set", "desk", "--coach", "Sam"),
    ],
)
def test_an_ambiguous_name_lists_real_addresses(cli, sams, args):
    result = cli(*args)

    assert result.exit_code == 1
    assert result.stderr == (
        "error: 'Sam' matches several people: Sam (console:sam1); "
        "Sam (sam.t@example.org, pending on telegram); Sam (slack:U123); "
        "give an address or email\n"
    )


def test_a_pending_person_is_shown_by_email_not_a_missing_id(cli, sams):
    result = cli("learner", "show", "sam.t@example.org")

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        "Sam (sam.t@example.org, pending on telegram), learner, pending"
    )
