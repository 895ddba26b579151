"""Bad roster files: every problem reported as FILE:LINE, one clear line, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from storage.models import Person
from tests.roster_support import HEADER, on_db, row_counts, write_csv

GOOD = "Ada Lovelace,ada@example.org,console,ada,desk,learner,,,"


@pytest.fixture
def populated(cli, database, database_url, tmp_path) -> dict[str, int]:
    """A database that already holds one imported person; returns its row counts."""
    assert cli("roster", "import", str(write_csv(tmp_path / "first.csv", GOOD))).exit_code == 0
    return row_counts(database_url)


def refused(cli, path: Path | str) -> str:
    """Import `path`, check it failed cleanly, and return what it printed on stderr."""
    result = cli("roster", "import", str(path))
    assert result.exit_code == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == ""
    return result.stderr


def one_line(stderr: str) -> str:
    """The single line a refused file prints."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


ROW_PROBLEMS = [
    ("Bo,bo@example.org,console,bo,desk,learner,Mars/Base,,", "unknown timezone 'Mars/Base'"),
    ("Bo,bo@example.org,console,bo,desk,learner,../../etc/passwd,,", "unknown timezone"),
    ("Bo,bo@example.org,console,bo,desk,learner,,9.30,", "send_time '9.30' is not a time"),
    ("Bo,bo@example.org,console,bo,desk,learner,,24:00,", "send_time '24:00' is not a time"),
    ("Bo,bo@example.org,fax,bo,desk,learner,,,", "unknown platform 'fax'"),
    ("Bo,bo@example.org,console,bo,desk,boss,,,", "unknown role 'boss'"),
    ("Bo,bo@example.org,console,bo,desk,,,,english", "language 'english' is not a two-letter"),
    ("Bo,,,,desk,learner,,,", "no address"),
    ("Bo,not-an-email,,,desk,,,,", "'not-an-email' is not an email address"),
    ("Bo,,slack,bob,desk,,,,", "platform_id 'bob' is not a Slack user id"),
    ("Bo,,telegram,@bob,desk,,,,", "platform_id '@bob' is not a numeric Telegram chat id"),
    ("Bo,,,U123,desk,,,,", "platform is empty but platform_id is given"),
    (",bo@example.org,console,bo,desk,,,,", "name is empty"),
    ("Bo,bo@example.org,console,bo,,,,,", "team is empty"),
    ("Bo,bo@example.org,console,bo", "expected 9 fields, found 4"),
    ("Bo,bo@example.org,console,bo,desk,learner,,,,extra", "expected 9 fields, found 10"),
    ("B" * 201 + ",bo@example.org,console,bo,desk,,,,", "name is longer than 200 characters"),
    ("Bo\x1b[2J,bo@example.org,console,bo,desk,,,,", "name contains control characters"),
    ("Ada again,,console,ada2,desk,,,,\nAda twin,,console,ada2,desk,,,,", "already on line 3"),
    ("Bo,ada@example.org,console,bo,desk,,,,", "ada@example.org is already on line 2"),
]


@pytest.mark.parametrize(("row", "message"), ROW_PROBLEMS)
def test_bad_row_is_reported_with_its_line_and_nothing_is_written(
    cli, populated, database_url, tmp_path, row, message
):
    path = write_csv(tmp_path / "bad.csv", GOOD, row)

    printed = one_line(refused(cli, path))

    line = 4 if "already on line 3" in message else 3
    assert printed.startswith(f"error: {path}:{line}: ")
    assert message in printed
    assert row_counts(database_url) == populated


def test_every_problem_is_reported_at_once(cli, populated, database_url, tmp_path):
    path = write_csv(
        tmp_path / "bad.csv",
        GOOD,
        "Bo,bo@example.org,console,bo,desk,boss,,,",
        "Cy,cy@example.org,console,cy,desk,,Nowhere/City,,",
        "Di,di@example.org,console,di,desk,,,25:61,",
    )

    lines = refused(cli, path).strip().splitlines()

    assert lines == [
        f"{path}:3: unknown role 'boss' (use learner, coach, admin)",
        f"{path}:4: unknown timezone 'Nowhere/City' (use an IANA name such as Europe/London)",
        f"{path}:5: send_time '25:61' is not a time of day as HH:MM",
        f"error: 3 problems in {path}; nothing was imported",
    ]
    assert row_counts(database_url) == populated


def test_line_numbers_count_physical_lines_of_quoted_fields(cli, populated, tmp_path):
    path = write_csv(
        tmp_path / "bad.csv",
        '"Ada\nLovelace",ada@example.org,console,ada,desk,,,,',
        "Bo,,,,desk,,,,",
    )

    assert f"{path}:4: no address" in refused(cli, path)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (HEADER + ",salary", "1: unknown column 'salary'"),
        ("name,email,platform,platform_id,role", "1: missing column 'team'"),
        ("name,team,role", "1: missing column 'email' or 'platform_id'"),
        ("name,team,email,email", "1: column 'email' appears twice"),
    ],
)
def test_bad_header_is_refused(cli, populated, database_url, tmp_path, header, message):
    path = write_csv(tmp_path / "bad.csv", "Bo,desk,bo@example.org", header=header)

    assert f"{path}:{message}" in refused(cli, path)
    assert row_counts(database_url) == populated


def test_a_person_cannot_switch_platform_ids(cli, populated, database_url, tmp_path):
    path = write_csv(tmp_path / "moved.csv", "Ada Lovelace,ada@example.org,console,ada2,desk,,,,")

    stderr = refused(cli, path)

    assert f"{path}:2: ada@example.org is Ada Lovelace (console:ada)" in stderr
    assert row_counts(database_url) == populated


def test_hostile_files_get_one_clear_line(cli, populated, database_url, tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "blank.csv").write_bytes(b"\n  \n")
    (tmp_path / "latin1.csv").write_bytes(
        f"{HEADER}\nZo\xe9,,console,zoe,desk,,,,\n".encode("latin-1")
    )
    (tmp_path / "binary.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (tmp_path / "utf16.csv").write_bytes(HEADER.encode("utf-16"))
    (tmp_path / "quote.csv").write_text(f'{HEADER}\n"Ada,ada@example.org\n', encoding="utf-8")
    (tmp_path / "header-only.csv").write_text(HEADER + "\n", encoding="utf-8")
    (tmp_path / "folder.csv").mkdir()
    expected = {
        "missing.csv": "no such file",
        "empty.csv": "empty file",
        "blank.csv": "empty file",
        "latin1.csv": "latin1.csv:2: not UTF-8 text (byte 0xe9)",
        "binary.csv": "binary.csv:3: binary data",
        "utf16.csv": "binary data",
        "quote.csv": "quote.csv:2: malformed CSV",
        "header-only.csv": "no people after the header",
        "folder.csv": "is a directory",
        "../../../../../../../etc/shadow-missing": "no such file",
    }
    for name, message in expected.items():
        line = one_line(refused(cli, tmp_path / name))
        assert line.startswith("error: ") and message in line, (name, line)
    assert row_counts(database_url) == populated


def test_huge_files_are_refused_before_parsing(cli, populated, database_url, tmp_path):
    big = tmp_path / "big.csv"
    with big.open("w", encoding="utf-8") as stream:
        stream.write(HEADER + "\n")
        stream.write(("x" * 999 + "\n") * 5_001)
    many = write_csv(
        tmp_path / "many.csv", *(f"P{n},,console,p{n},desk,,,," for n in range(50_001))
    )

    assert "too large (the limit is 5 MB)" in one_line(refused(cli, big))
    assert "more than 50,000 rows" in one_line(refused(cli, many))
    assert row_counts(database_url) == populated


def test_spreadsheet_formulas_and_a_bom_are_just_text(cli, populated, database_url, tmp_path):
    path = tmp_path / "excel.csv"
    row = '"=HYPERLINK(""http://evil.example"",""x"")",,console,eve,desk,,,,'
    path.write_bytes(("\ufeff" + HEADER + "\n" + GOOD + "\n" + row + "\n").encode("utf-8"))

    result = cli("roster", "import", str(path))

    assert result.exit_code == 0, result.stderr

    async def names(session):
        return {p.name for p in (await session.exec(select(Person))).all()}

    assert '=HYPERLINK("http://evil.example","x")' in on_db(database_url, names)
