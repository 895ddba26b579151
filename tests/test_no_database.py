"""Only `run`, `demo` and `db upgrade` create or migrate a database; the rest say how to."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from storage import migrate
from storage.db import create_engine

CREATE_IT = "run `servicecoach db upgrade` (or `servicecoach run`) to create it"
COMMANDS = {
    "report": ("report",),
    "deliveries": ("deliveries",),
    "teams list": ("teams", "list"),
    "learner show": ("learner", "show", "Ada"),
    "escalations list": ("escalations", "list"),
    "packs list": ("packs", "list"),
    "learner export": ("learner", "export", "Ada"),
    "packs load": ("packs", "load", "service-everyone"),
    "roster import": ("roster", "import", "staff.csv"),
    "teams set": ("teams", "set", "desk", "--holidays", "GB-ENG"),
    "deliver now": ("deliver", "now"),
    "learner forget": ("learner", "forget", "Ada", "--yes"),
}


@pytest.fixture
def sqlite_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A SQLite database path in the test's folder (its own, also on PostgreSQL runs)."""
    path = tmp_path / "coach.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    (tmp_path / "staff.csv").write_text("name,team,platform,platform_id\nAda,desk,console,ada\n")
    return path


@pytest.mark.parametrize("command", COMMANDS)
def test_without_a_database_a_command_says_where_it_looked_and_creates_nothing(
    bare_cli, sqlite_file: Path, tmp_path: Path, command: str
):
    result = bare_cli(*COMMANDS[command])

    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"error: no database at {sqlite_file}: {CREATE_IT}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["staff.csv"]


def tables(path: Path) -> list[str]:
    """The tables in a SQLite file."""
    with sqlite3.connect(path) as connection:
        return [row[0] for row in connection.execute("SELECT name FROM sqlite_master")]


@pytest.mark.parametrize("command", ["report", "packs load"])
def test_an_empty_database_is_not_migrated_by_other_commands(
    bare_cli, sqlite_file: Path, command: str
):
    sqlite_file.touch()

    result = bare_cli(*COMMANDS[command])

    assert result.exit_code == 1
    assert result.stderr == (
        f"error: no servicecoach tables in the database at {sqlite_file}: {CREATE_IT}\n"
    )
    assert tables(sqlite_file) == []


def test_an_older_schema_asks_for_db_upgrade(cli, monkeypatch: pytest.MonkeyPatch):
    # Only one revision ships so far: pretend this code needs a newer one.
    current = migrate.head_revision()
    monkeypatch.setattr(migrate, "head_revision", lambda: "9999_next")

    result = cli("teams", "list")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: the database at ")
    assert result.stderr.endswith(
        f" has an older schema ({current}): run `servicecoach db upgrade`\n"
    )


async def _stamp(url: str, revision: str) -> None:
    """Write `revision` into the database's Alembic version table."""
    engine = create_engine(url)
    update = text("UPDATE alembic_version SET version_num = :revision")
    async with engine.begin() as connection:
        await connection.execute(update, {"revision": revision})
    await engine.dispose()


@pytest.mark.parametrize("command", [("db", "upgrade"), ("report",)])
def test_a_schema_from_a_newer_version_is_one_line_even_for_db_upgrade(
    cli, database_url: str, command: tuple[str, ...]
):
    current = migrate.head_revision()
    asyncio.run(_stamp(database_url, "ffff_from_the_future"))
    try:
        result = cli(*command)
    finally:
        asyncio.run(_stamp(database_url, current))  # the PostgreSQL database is shared

    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "has schema revision ffff_from_the_future, which this servicecoach does not know" in (
        result.stderr
    )
