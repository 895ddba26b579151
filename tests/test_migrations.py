"""The shipped migrations build exactly the schema the models describe; `db upgrade` is safe."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from storage import migrate


def schema_differences(connection: Connection) -> list[object]:
    """What autogenerate would still add, drop or alter to reach the models."""
    return compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)


def head_revision() -> str:
    """The newest revision shipped with the package."""
    return ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()


async def test_migrations_from_empty_build_exactly_the_models(database):
    # The fixture upgraded an empty database to head (per test on SQLite, per session on
    # PostgreSQL), the way `run` and `db upgrade` do.
    async with database.engine.connect() as connection:
        assert await connection.run_sync(schema_differences) == []
    assert await migrate.current_revision(database.engine) == head_revision()


def test_db_upgrade_brings_a_new_database_to_head_and_may_run_again(bare_cli):
    first = bare_cli("db", "upgrade")
    again = bare_cli("db", "upgrade")

    expected = f"database at revision {head_revision()}\n"
    assert (first.exit_code, first.stdout, first.stderr) == (0, expected, "")
    assert (again.exit_code, again.stdout, again.stderr) == (0, expected, "")


BAD_URLS = {
    "nothing listening": "postgresql+asyncpg://coach:s3cret@127.0.0.1:1/coaching",
    "missing folder": "sqlite+aiosqlite:///{tmp}/no/such/folder/coach.db",
}


@pytest.mark.parametrize("problem", BAD_URLS)
def test_db_upgrade_on_a_database_it_cannot_open_says_so_in_one_line(
    bare_cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, problem: str
):
    monkeypatch.setenv("DATABASE_URL", BAD_URLS[problem].format(tmp=tmp_path))

    result = bare_cli("db", "upgrade")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: cannot open database")
    assert result.stderr.count("\n") == 1
    assert "s3cret" not in result.stderr
    assert not (tmp_path / "no").exists()
