"""`packs load` and `packs list`: versioned reloads keep every learner's history."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from content import PackModel, read_pack, shipped_pack_path
from content.store import diff_pack, load_pack
from storage.models import Delivery, Item, Lesson, Pack, Person, Response, ReviewState
from tests.packs import L1, L2, L3, SAMPLE, copy_sample, edit, row_counts

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)
NEW_ITEM = """- id: promise-kept
  type: true_false
  prompt: A promise kept early feels like good service.
  answer: true
  explanation: Under-promise, then deliver.
"""


def _read(path: Path) -> PackModel:
    """A pack that must be valid."""
    pack, problems = read_pack(path)
    assert problems == [] and pack is not None
    return pack


def make_v2(folder: Path) -> Path:
    """Version 1.1: one prompt changed, one item removed, one item added."""
    pack = copy_sample(folder, "v2")
    edit(pack, "pack.yaml", 'version: "1.0"', 'version: "1.1"')
    edit(pack, L1, "Which of these tell a person", "Which of these show a person")
    text = (pack / L3).read_text(encoding="utf-8")
    start, end = text.index("- id: callback-days"), text.index("- id: estimate-range")
    (pack / L3).write_text(text[:start] + NEW_ITEM + text[end:], encoding="utf-8")
    return pack


async def _history(database) -> dict[str, int]:
    """A learner who answered two items and has review state for one of them."""
    async with database.sessions.begin() as session:
        items = {row.key: row for row in await session.exec(select(Item))}
        person = Person(name="Ada", platform="console", platform_id="ada")
        session.add(person)
        await session.flush()
        for key in ("greet-first", "callback-days"):
            delivery = Delivery(
                person_id=person.id,
                delivery_key=f"quiz:2026-11-23:{key}",
                kind="quiz",
                item_id=items[key].id,
            )
            session.add(delivery)
            await session.flush()
            session.add(
                Response(
                    person_id=person.id,
                    item_id=items[key].id,
                    delivery_id=delivery.id,
                    answer="c1",
                    correct=True,
                )
            )
            session.add(ReviewState(person_id=person.id, item_id=items[key].id, due=NOW))
    return {key: items[key].id for key in ("greet-first", "callback-days")}


async def _rows(database, table):
    """Every row of a table by key."""
    async with database.sessions() as session:
        return {row.key: row for row in await session.exec(select(table))}


async def test_new_version_keeps_history_and_retires_removed_ids(database, tmp_path: Path):
    async with database.sessions.begin() as session:
        await load_pack(session, _read(SAMPLE), now=NOW)
    item_ids = await _history(database)

    v2 = _read(make_v2(tmp_path))
    async with database.sessions.begin() as session:
        diff = await load_pack(session, v2, now=NOW)

    assert (diff.old_version, diff.new_version) == ("1.0", "1.1")
    assert diff.items.added == ["promise-kept"]
    assert diff.items.changed == ["good-signals"]
    assert diff.items.retired == ["callback-days"]
    assert diff.items.unchanged == 4
    assert diff.lessons.changed == [] and diff.lessons.unchanged == 3
    items = await _rows(database, Item)
    assert items["greet-first"].id == item_ids["greet-first"]
    assert items["callback-days"].id == item_ids["callback-days"]
    assert items["callback-days"].retired and not items["greet-first"].retired
    assert items["good-signals"].prompt.startswith("Which of these show")
    async with database.sessions() as session:
        responses = (await session.exec(select(Response.item_id))).all()
        states = (await session.exec(select(ReviewState.item_id))).all()
    assert sorted(responses) == sorted(states) == sorted(item_ids.values())


async def test_reloading_an_old_version_restores_retired_ids(database, tmp_path: Path):
    v2 = _read(make_v2(tmp_path))
    async with database.sessions.begin() as session:
        await load_pack(session, _read(SAMPLE), now=NOW)
    async with database.sessions.begin() as session:
        await load_pack(session, v2, now=NOW)
    async with database.sessions.begin() as session:
        diff = await load_pack(session, _read(SAMPLE), now=NOW)
    assert diff.items.restored == ["callback-days"]
    assert diff.items.retired == ["promise-kept"]
    items = await _rows(database, Item)
    assert not items["callback-days"].retired and items["promise-kept"].retired


async def test_removed_lesson_is_retired_with_its_items(database, tmp_path: Path):
    async with database.sessions.begin() as session:
        await load_pack(session, _read(SAMPLE), now=NOW)
    pack = copy_sample(tmp_path)
    (pack / L2).unlink()
    async with database.sessions.begin() as session:
        diff = await load_pack(session, _read(pack), now=NOW)
    assert diff.lessons.retired == ["plain-words"]
    assert diff.items.retired == ["actioned-is-jargon", "read-aloud"]
    lessons = await _rows(database, Lesson)
    assert lessons["plain-words"].retired and not lessons["first-contact"].retired


async def test_diff_reads_only(database):
    async with database.sessions() as session:
        diff = await diff_pack(session, _read(SAMPLE))
        assert diff.new_pack and len(diff.items.added) == 6
        assert (await session.exec(select(Pack))).all() == []


async def test_items_store_the_agreed_data(database):
    async with database.sessions.begin() as session:
        await load_pack(session, _read(SAMPLE), now=NOW)
    items = await _rows(database, Item)
    assert items["greet-first"].data["choices"][1] == {
        "text": "Look up, greet them, and say when you will be free.",
        "correct": True,
        "feedback": None,
    }
    assert items["actioned-is-jargon"].data == {
        "answer": False,
        "feedback_true": "It sounds official, but it does not say what was done.",
        "feedback_false": "Right, it hides what was actually done.",
    }
    assert items["read-aloud"].data == {"accepted": ["read it aloud", "read aloud"]}
    assert items["callback-days"].data == {
        "answer": 2.0,
        "tolerance": 0.0,
        "range": None,
        "unit": "days",
    }
    assert items["estimate-range"].data["range"] == [3.0, 5.0]
    lessons = await _rows(database, Lesson)
    assert lessons["first-contact"].reflection.startswith("Think of the last person")
    assert lessons["plain-words"].reflection is None
    assert [lessons[k].order for k in ("first-contact", "plain-words", "waiting-times")] == [
        1,
        2,
        3,
    ]


def test_dry_run_prints_the_diff_and_writes_nothing(cli, database_url, tmp_path: Path, database):
    assert cli("packs", "load", str(SAMPLE)).exit_code == 0
    before = row_counts(database_url)
    result = cli("packs", "load", str(make_v2(tmp_path)), "--dry-run")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "pack sample-pack: version 1.0 -> 1.1",
        "lessons: 0 added, 0 changed, 0 retired, 3 unchanged",
        "items: 1 added, 1 changed, 1 retired, 4 unchanged",
        "  + item promise-kept",
        "  ~ item good-signals",
        "  - item callback-days",
        "dry run: nothing written",
    ]
    assert row_counts(database_url) == before


def test_list_shows_active_counts(cli, tmp_path: Path, database):
    assert cli("packs", "list").stdout == "no packs loaded\n"
    assert cli("packs", "load", str(SAMPLE)).exit_code == 0
    pack = copy_sample(tmp_path)
    (pack / L2).unlink()
    assert cli("packs", "load", str(pack)).exit_code == 0
    rows = json.loads(cli("packs", "list", "--json").stdout)
    assert [(r["id"], r["version"], r["lessons"], r["items"]) for r in rows] == [
        ("sample-pack", "1.0", 2, 4)
    ]
    assert datetime.fromisoformat(rows[0]["loaded_at"]).tzinfo is not None
    table = cli("packs", "list").stdout
    header, row = table.splitlines()[1], table.splitlines()[3]
    assert [cell.strip() for cell in header.split("┃")[1:-1]] == [
        "id",
        "title",
        "version",
        "lessons",
        "items",
        "loaded at",
    ]
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells[0] == "sample-pack" and cells[2:5] == ["1.0", "2", "4"]


def test_a_shipped_pack_loads_by_name(cli, monkeypatch: pytest.MonkeyPatch, database):
    monkeypatch.setattr("content.shipped._packs_folder", lambda: SAMPLE.parent)
    assert shipped_pack_path("sample") == SAMPLE
    assert shipped_pack_path("../sample") is None
    result = cli("packs", "load", "sample")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "loaded sample-pack 1.0"


def test_reload_reports_no_changes_or_a_forgotten_version_bump(cli, tmp_path: Path, database):
    assert cli("packs", "load", str(SAMPLE)).exit_code == 0
    assert cli("packs", "load", str(SAMPLE)).stdout.splitlines()[-1] == "no changes"
    pack = copy_sample(tmp_path)
    edit(pack, L1, "Which of these tell a person", "Which of these show a person")
    lines = cli("packs", "load", str(pack)).stdout.splitlines()
    assert lines[0] == (
        "pack sample-pack: version 1.0 "
        "(content changed but the version did not; consider a new version)"
    )
    assert lines[-1] == "loaded sample-pack 1.0"
