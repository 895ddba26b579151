"""Whatever a roster CSV holds, `roster import` answers with a result or clear lines
naming the file (and the line), never a traceback, and a rejected file changes nothing."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.admin.roster import COLUMNS
from storage.db import create_engine
from storage.models import Delivery, Enrolment, Person, Team
from tests.fuzz_support import fuzz_settings
from tests.roster_support import write_csv

CELLS = {
    "name": st.sampled_from(["Ada Lovelace", "Bea", "", " ", "Ünïcode Näme"])
    | st.text(max_size=12),
    "email": st.sampled_from(["", "ada@example.com", "not-an-email", "BEA@Example.com"]),
    "platform": st.sampled_from(["", "slack", "telegram", "console", "fax"]) | st.text(max_size=5),
    "platform_id": st.sampled_from(["", "U0123", "123456", "ada", "has space"])
    | st.text(max_size=8),
    "team": st.sampled_from(["front", "back", "", "x" * 200]) | st.text(max_size=10),
    "role": st.sampled_from(["", "learner", "coach", "admin", "boss"]),
    "timezone": st.sampled_from(["", "Europe/London", "Mars/Olympus", "UTC"]),
    "send_time": st.sampled_from(["", "09:00", "9am", "25:00", "08:30"]),
    "language": st.sampled_from(["", "en", "xx-YY-ZZ"]),
}
ROW = st.fixed_dictionaries(CELLS)
EXTRA = st.lists(st.text(max_size=10), max_size=2)  # stray or missing fields


def as_csv(header: list[str], rows: list[dict[str, str]], extra: list[list[str]]) -> str:
    """The rows as CSV text under `header`, with some rows given stray fields."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for number, row in enumerate(rows):
        cells = [row.get(column, "") for column in header]
        writer.writerow(cells + (extra[number % len(extra)] if extra else []))
    return out.getvalue()


async def _counts(database_url: str) -> tuple[int, ...]:
    """How many people, teams, enrolments and outbox rows the database holds."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            counts = []
            for table in (Person, Team, Enrolment, Delivery):
                count = select(func.count()).select_from(table)
                counts.append((await connection.execute(count)).scalar_one())
            return tuple(counts)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where each example writes its roster file."""
    return tmp_path_factory.mktemp("roster-fuzz")


@fuzz_settings(40)
@given(
    header=st.permutations(list(COLUMNS)) | st.lists(st.sampled_from([*COLUMNS, "nick"])),
    rows=st.lists(ROW, max_size=5),
    extra=st.lists(EXTRA, max_size=2),
)
def test_any_roster_is_imported_or_refused_in_clear_lines_and_a_refusal_changes_nothing(
    cli, database_url: str, folder: Path, header: list[str], rows: list[dict], extra: list
):
    roster = folder / "staff.csv"
    roster.write_text(as_csv(header, rows, [e for e in extra if e]), encoding="utf-8")
    _imported_or_refused_cleanly(cli, database_url, roster)


def _imported_or_refused_cleanly(cli, database_url: str, roster: Path) -> None:
    """`roster import`: a summary, or lines naming the file (and a line in it); a refusal
    changes nothing."""
    before = asyncio.run(_counts(database_url))

    result = cli("roster", "import", str(roster))  # an exception would fail the test here

    if result.exit_code == 0:
        assert "created" in result.stdout
        return
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith(("error: ", str(roster))) for line in lines)
    assert all(str(roster) in line for line in lines)
    assert "Traceback" not in result.stderr
    physical = roster.read_bytes().count(b"\n") + 1
    for line in lines:
        number = line.split(f"{roster}:", 1)[1].split(":", 1)[0] if f"{roster}:" in line else ""
        assert not number.isdigit() or 1 <= int(number) <= physical, line
    assert asyncio.run(_counts(database_url)) == before


KNOWN = (  # people already imported, so rows can match, move or clash with them
    "Ada Lovelace,ada@example.com,slack,U0ADA0001,front,learner,,,",
    "Bea Smith,bea@example.com,telegram,42,front,coach,,,",
    "Cy Pending,cy@example.com,,,back,,,,",
)
CELL_TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["a\nb", 'say "hi"', "x,y", "\r", " ", "U0ADA0001", "42", "ada@example.com", "front"]
)
QUOTED = st.lists(st.lists(CELL_TEXT, min_size=9, max_size=10), max_size=4).map(
    lambda rows: "".join(
        ",".join('"' + cell.replace('"', '""') + '"' for cell in row) + "\r\n" for row in rows
    )
)
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32", "latin-1", "cp1252"])


@fuzz_settings(30)
@given(
    data=st.binary(max_size=200)
    | st.builds(
        lambda body, encoding: body.encode(encoding, errors="replace"),
        st.builds(lambda rows: ",".join(COLUMNS) + "\n" + rows, QUOTED),
        ENCODINGS,
    )
    | st.builds(
        lambda cut, tail: (",".join(COLUMNS) + "\n" + "\n".join(KNOWN)).encode()[:cut] + tail,
        st.integers(0, 400),
        st.binary(max_size=20),
    )
)
@example(data=f'{",".join(COLUMNS)}\n"Ada\nLovelace",,slack,U0ADA0001,front,,,,\n'.encode())
@example(data=f"{','.join(COLUMNS)}\nAda,,slack,U0ADA0001,front,,,,\n".encode("utf-16"))
@example(data=f'{",".join(COLUMNS)}\n"unclosed,,,,\n'.encode())
@example(data=f"{','.join(COLUMNS)}\nBea,bea@example.com,slack,U0BEA0002,front,,,,\n".encode())
def test_any_bytes_as_a_roster_are_imported_or_refused_in_clear_lines_and_a_refusal_changes_nothing(
    cli, database_url: str, folder: Path, data: bytes
):
    if asyncio.run(_counts(database_url))[0] == 0:
        known = write_csv(folder / "known.csv", *KNOWN)
        assert cli("roster", "import", str(known)).exit_code == 0
    roster = folder / "bytes.csv"
    roster.write_bytes(data)
    _imported_or_refused_cleanly(cli, database_url, roster)
