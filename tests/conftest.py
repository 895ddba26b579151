"""Shared fixtures: a fresh migrated database per test, on SQLite or PostgreSQL.

Set `TEST_DATABASE_URL` to a PostgreSQL server URL (any database on it) to run
the whole suite on PostgreSQL; a scratch database is created for the session
and every table is emptied before each test. Without it, each test gets its
own SQLite file.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel
from typer.testing import CliRunner

from bot.app import Database
from storage import migrate
from storage.db import create_engine, session_factory
from tests.fakes.telegram_api import FakeTelegram

SETTING_NAMES = (
    "DATABASE_URL",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_BASE_URL",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_URL",
    "TELEGRAM_WEBHOOK_SECRET",
    "TELEGRAM_API_BASE_URL",
    "HTTP_HOST",
    "HTTP_PORT",
    "ADMINS",
    "DEFAULT_TEAM",
    "DEFAULT_TIMEZONE",
    "DEFAULT_SEND_TIME",
    "LOG_LEVEL",
    "WORKER_ID",
    "SEND_SHARE",
    "TELEGRAM_SEND_RATE",
)


def postgres_url() -> str | None:
    """The PostgreSQL server given for this run, if any."""
    return os.environ.get("TEST_DATABASE_URL") or None


async def _create_postgres_database(server_url: str, name: str) -> None:
    """Create an empty database on the server and migrate it."""
    admin = create_engine(server_url).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    engine = create_engine(make_url(server_url).set(database=name).render_as_string(False))
    await migrate.upgrade(engine)
    await engine.dispose()


async def _drop_postgres_database(server_url: str, name: str) -> None:
    """Drop the scratch database."""
    admin = create_engine(server_url).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the tests marked `postgresql` unless TEST_DATABASE_URL names a server."""
    if postgres_url() is not None:
        return
    needs_server = [item for item in items if item.get_closest_marker("postgresql")]
    if needs_server:
        config.hook.pytest_deselected(items=needs_server)
        items[:] = [item for item in items if not item.get_closest_marker("postgresql")]


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str | None]:
    """A migrated scratch PostgreSQL database for the session, or None on SQLite."""
    server = postgres_url()
    if server is None:
        yield None
        return
    name = f"servicecoach_test_{uuid.uuid4().hex[:8]}"
    asyncio.run(_create_postgres_database(server, name))
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_drop_postgres_database(server, name))


@pytest.fixture
def database_url(postgres_database_url: str | None, tmp_path: Path) -> str:
    """The URL of this test's database (empty tables, current schema)."""
    if postgres_database_url is not None:
        return postgres_database_url
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """An open, migrated, empty database for one test."""
    engine = create_engine(database_url)
    if engine.dialect.name == "postgresql":
        tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    else:
        await migrate.upgrade(engine)
    yield Database(engine=engine, sessions=session_factory(engine))
    await engine.dispose()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep a developer's shell and `.env` out of tests: run each test in its own folder."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the shell's own database
    monkeypatch.chdir(tmp_path)


@dataclass
class CliResult:
    """What one CLI run printed and how it ended."""

    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def bare_cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> object:
    """Run `servicecoach ARGS…` in-process against this test's database, which may not exist."""
    from bot.cli import app

    monkeypatch.setenv("DATABASE_URL", database_url)

    def invoke(*args: str, input: str | None = None) -> CliResult:
        result = CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return invoke


@pytest.fixture
def cli(bare_cli: object, database: Database) -> object:
    """Run `servicecoach ARGS…` in-process against this test's migrated, empty database."""
    return bare_cli


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    """A fake Telegram Bot API serving on 127.0.0.1 for one test."""
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()
