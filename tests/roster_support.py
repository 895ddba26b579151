"""Helpers for roster and teams tests: direct database access beside the CLI."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import func
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import create_engine, session_factory
from storage.models import Lesson, Pack

T = TypeVar("T")

HEADER = "name,email,platform,platform_id,team,role,timezone,send_time,language"


def write_csv(path: Path, *rows: str, header: str = HEADER) -> Path:
    """Write a roster file with the header and `rows`, one per line."""
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def on_db(database_url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction on the test database (from sync tests)."""

    async def _go() -> T:
        engine = create_engine(database_url)
        try:
            async with session_factory(engine).begin() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(_go())


async def count_rows(session: AsyncSession) -> dict[str, int]:
    """How many rows each table holds."""
    counts = {}
    for table in SQLModel.metadata.sorted_tables:
        counts[table.name] = (await session.exec(select(func.count()).select_from(table))).one()
    return counts


def row_counts(database_url: str) -> dict[str, int]:
    """How many rows each table of the test database holds."""
    return on_db(database_url, count_rows)


async def add_pack(session: AsyncSession, pack_id: str, *, retired: bool = False) -> Pack:
    """A pack with two lessons (both retired when `retired`)."""
    pack = Pack(id=pack_id, title=pack_id.title(), version="1")
    session.add(pack)
    await session.flush()
    for order in (1, 2):
        session.add(
            Lesson(
                pack_id=pack_id,
                key=f"l{order}",
                title=f"Lesson {order}",
                topic="care",
                order=order,
                body="Be kind.",
                retired=retired,
            )
        )
    await session.flush()
    return pack
