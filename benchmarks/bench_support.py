"""Shared set-up for the benchmarks: a scratch database, bulk rows, RSS, clocks, fake platforms."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from bot.app import Database
from content import read_pack, shipped_pack_path
from content.store import load_pack
from storage import migrate
from storage.db import create_engine, session_factory

CHUNK = 5_000
CREATED = datetime(2026, 1, 5, 8, tzinfo=UTC)


def rss_mb() -> float:
    """The process's peak resident set size so far, in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@asynccontextmanager
async def scratch_database(server_url: str | None = None) -> AsyncIterator[Database]:
    """A fresh migrated database: a temporary SQLite file, or a new database on `server_url`."""
    if server_url is None:
        with tempfile.TemporaryDirectory() as folder:
            engine = create_engine(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}")
            await migrate.upgrade(engine)
            try:
                yield Database(engine, session_factory(engine))
            finally:
                await engine.dispose()
        return
    name = f"servicecoach_bench_{os.getpid()}"  # benchmarks running at once never share one
    admin = create_engine(server_url).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(make_url(server_url).set(database=name).render_as_string(False))
    await migrate.upgrade(engine)
    try:
        yield Database(engine, session_factory(engine))
    finally:
        await engine.dispose()
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def gather_statistics(database: Database) -> None:
    """ANALYZE a PostgreSQL database after a bulk load, as autovacuum soon would.

    Without statistics the server guesses, and its plans flip once autovacuum
    catches up: a run measured before that is measuring the guesses.
    """
    if database.engine.dialect.name == "postgresql":
        async with database.engine.begin() as connection:
            await connection.execute(text("ANALYZE"))


async def bulk_insert(database: Database, table: Any, rows: Iterable[dict[str, Any]]) -> None:
    """Insert plain rows in chunks of executemany, never an ORM object per row."""
    chunk: list[dict[str, Any]] = []
    async with database.engine.begin() as connection:
        for row in rows:
            chunk.append(row)
            if len(chunk) >= CHUNK:
                await connection.execute(insert(table), chunk)
                chunk = []
        if chunk:
            await connection.execute(insert(table), chunk)
        if connection.dialect.name == "postgresql" and "id" in table.c:
            # Rows came with their ids: the sequence must continue after them.
            name = table.name
            await connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {name}))"
                )
            )


def person_rows(count: int, *, start: int = 1, team_id: int | None = None) -> Iterable[dict]:
    """`count` console learners with ids from `start`."""
    for number in range(start, start + count):
        yield {
            "id": number,
            "name": f"learner {number}",
            "role": "learner",
            "platform": "console",
            "platform_id": f"p{number}",
            "timezone": "Europe/London",
            "send_time": "09:00",
            "language": "en",
            "status": "active",
            "team_id": team_id,
            "created_at": CREATED,
        }


def enrolment_rows(person_ids: Sequence[int], pack_id: str) -> Iterable[dict]:
    """An active enrolment in `pack_id` for each person."""
    for person_id in person_ids:
        yield {"person_id": person_id, "pack_id": pack_id, "active": True, "started_at": CREATED}


STARTER_PACK = "service-everyone"


async def load_starter_pack(database: Database) -> str:
    """Load the shipped starter pack; its id."""
    pack, _ = read_pack(shipped_pack_path(STARTER_PACK))
    async with database.sessions() as session:
        await load_pack(session, pack, now=CREATED)
        await session.commit()
    return pack.meta.id


class ShiftedClock:
    """The wall clock's pace from a chosen start: benchmarks plan a Monday 09:00 and send in it."""

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._started = time.perf_counter()

    def now(self) -> datetime:
        """`start` plus the real time since this clock was made."""
        return self._start + timedelta(seconds=time.perf_counter() - self._started)

    async def sleep(self, seconds: float) -> None:
        """Really wait."""
        await asyncio.sleep(seconds)


class FakePlatforms:
    """`benchmarks.fake_platforms` in a child process: its base URLs and its commands."""

    def __init__(self, process: asyncio.subprocess.Process, urls: dict[str, str]) -> None:
        self._process = process
        self.urls = urls

    async def ask(self, command: str) -> Any:
        """Send one command; its JSON answer."""
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(f"{command}\n".encode())
        await self._process.stdin.drain()
        return json.loads(await self._process.stdout.readline())


@asynccontextmanager
async def fake_platforms(*options: str) -> AsyncIterator[FakePlatforms]:
    """The fake platform APIs serving in their own process until the block ends."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.fake_platforms",
        *options,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=2**30,  # `sends` answers in one long line
    )
    assert process.stdout is not None
    try:
        yield FakePlatforms(process, json.loads(await process.stdout.readline()))
    finally:
        if process.stdin is not None:
            process.stdin.write(b"quit\n")
            await process.stdin.drain()
        await process.wait()
