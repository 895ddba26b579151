"""The test pack (`sample/`, three lessons using every item type) and helpers to break it."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlmodel import SQLModel

from content import PackModel, read_pack, shipped_pack_path
from content.schema import ItemModel
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


def shipped_folder(name: str) -> Path:
    """The folder of the pack shipped as `name`; fails the test when it is not shipped."""
    folder = shipped_pack_path(name)
    assert folder is not None, f"{name} is not shipped"
    return folder


def read_shipped(name: str) -> PackModel:
    """A shipped pack read with the project's own reader, with no errors and no warnings."""
    model, problems = read_pack(shipped_folder(name))
    assert [str(problem) for problem in problems] == []
    assert model is not None
    return model


def quiz_items(pack: PackModel) -> list[ItemModel]:
    """Every quiz item of a pack, in sending order."""
    return [item for lesson in pack.lessons for item in lesson.items]


def check_validate_and_load(cli: Any, database_url: str, pack: PackModel) -> None:
    """`packs validate NAME` reports the pack's counts, and `packs load NAME` stores all of it."""
    name = pack.meta.id
    result = cli("packs", "validate", name)
    assert result.exit_code == 0
    assert result.stdout.strip() == f"ok: {len(pack.lessons)} lessons, {pack.item_count} items"
    result = cli("packs", "load", name)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == f"loaded {name} {pack.meta.version}"
    counts = row_counts(database_url)
    expected = (1, len(pack.lessons), pack.item_count)
    assert (counts["pack"], counts["lesson"], counts["item"]) == expected
