"""The test pack (`sample/`, three lessons using every item type) and helpers to break it."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import SQLModel

from storage.db import create_engine

SAMPLE = Path(__file__).parent / "sample"
L1 = "lessons/01-first-contact.md"
L2 = "lessons/02-plain-words.md"
L3 = "lessons/03-numbers.md"


def copy_sample(folder: Path, name: str = "pack") -> Path:
    """A fresh copy of the sample pack at `folder/name`."""
    return Path(shutil.copytree(SAMPLE, folder / name))


def edit(pack: Path, file: str, old: str, new: str) -> None:
    """Replace the one occurrence of `old` in a file of the pack."""
    path = pack / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {file}"
    path.write_text(text.replace(old, new), encoding="utf-8")


async def _row_counts(url: str) -> dict[str, int]:
    """How many rows each table holds."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return {
                table.name: (
                    await connection.execute(select(func.count()).select_from(table))
                ).scalar_one()
                for table in SQLModel.metadata.sorted_tables
            }
    finally:
        await engine.dispose()


def row_counts(url: str) -> dict[str, int]:
    """How many rows each table holds (from synchronous test code)."""
    return asyncio.run(_row_counts(url))
