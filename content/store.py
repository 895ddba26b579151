"""Writing a validated pack to the database, keeping every learner's history.

Lessons and items are matched by their stable ids (`key`) within the pack. A
content hash tells changed rows from unchanged ones; ids that disappear are
retired (never deleted, so responses and review states keep pointing at them)
and come back to life if a later version restores them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from content.schema import LessonModel, PackModel
from storage import models
from storage.types import utcnow


@dataclass
class Changes:
    """What a load does to one kind of row, by key."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)  # retired ids that come back
    unchanged: int = 0

    @property
    def empty(self) -> bool:
        """Whether nothing changes."""
        return not (self.added or self.changed or self.retired or self.restored)


@dataclass
class Diff:
    """What loading a pack changes: the pack row, its lessons and its items."""

    pack_id: str
    old_version: str | None
    new_version: str
    details_changed: bool  # title, version, language, audience, description or topic names
    lessons: Changes = field(default_factory=Changes)
    items: Changes = field(default_factory=Changes)

    @property
    def new_pack(self) -> bool:
        """Whether the pack was not loaded before."""
        return self.old_version is None

    @property
    def empty(self) -> bool:
        """Whether loading would change nothing."""
        return (
            not self.new_pack
            and not self.details_changed
            and self.lessons.empty
            and self.items.empty
        )


def _hash(value: dict[str, Any]) -> str:
    """A stable digest of JSON-able content."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def lesson_fields(lesson: LessonModel) -> dict[str, Any]:
    """The columns of a Lesson row for this lesson (without ids)."""
    return {
        "title": lesson.title,
        "topic": lesson.topic,
        "order": lesson.order,
        "body": lesson.body,
        "reflection": lesson.reflection,
        "commitment": lesson.commitment.data() if lesson.commitment is not None else None,
    }


def _lesson_hash(lesson: LessonModel) -> str:
    """The content hash of a lesson; a lesson without a commitment hashes as before commitments."""
    fields = lesson_fields(lesson)
    if fields["commitment"] is None:
        del fields["commitment"]
    return _hash(fields)


def _item_rows(lesson: LessonModel) -> list[dict[str, Any]]:
    """The columns of the Item rows of one lesson (without ids), with their lesson's key."""
    return [
        {
            "key": item.id,
            "lesson_key": lesson.id,
            "type": item.type,
            "prompt": item.prompt,
            "explanation": item.explanation,
            "data": item.data(),
            "position": position,
        }
        for position, item in enumerate(lesson.items)
    ]


def _pack_fields(pack: PackModel) -> dict[str, Any]:
    """The columns of the Pack row."""
    meta = pack.meta
    return {
        "title": meta.title,
        "version": meta.version,
        "language": meta.language,
        "audience": meta.audience,
        "description": meta.description,
        "topics": dict(meta.topics),
    }


def _compare(changes: Changes, wanted: dict[str, str], existing: dict[str, Any]) -> None:
    """Sort keys into added, changed, restored, retired and unchanged by content hash."""
    for key, digest in wanted.items():
        row = existing.get(key)
        if row is None:
            changes.added.append(key)
        elif row.retired:
            changes.restored.append(key)
        elif row.content_hash != digest:
            changes.changed.append(key)
        else:
            changes.unchanged += 1
    changes.retired = [
        key for key, row in existing.items() if key not in wanted and not row.retired
    ]


@dataclass
class _Plan:
    """The diff of a load and what is needed to apply it."""

    diff: Diff
    pack_row: models.Pack | None
    lessons: dict[str, models.Lesson]
    items: dict[str, models.Item]
    lesson_hashes: dict[str, str]
    item_rows: dict[str, dict[str, Any]]
    item_hashes: dict[str, str]


async def _plan(session: AsyncSession, pack: PackModel) -> _Plan:
    """Compare a pack with what the database holds for it."""
    pack_id = pack.meta.id
    pack_row = await session.get(models.Pack, pack_id)
    lessons = {
        row.key: row
        for row in await session.exec(select(models.Lesson).where(models.Lesson.pack_id == pack_id))
    }
    items = {
        row.key: row
        for row in await session.exec(select(models.Item).where(models.Item.pack_id == pack_id))
    }
    lesson_hashes = {lesson.id: _lesson_hash(lesson) for lesson in pack.lessons}
    item_rows = {row["key"]: row for lesson in pack.lessons for row in _item_rows(lesson)}
    item_hashes = {key: _hash(row) for key, row in item_rows.items()}
    details_changed = pack_row is not None and any(
        getattr(pack_row, name) != value for name, value in _pack_fields(pack).items()
    )
    diff = Diff(
        pack_id=pack_id,
        old_version=pack_row.version if pack_row is not None else None,
        new_version=pack.meta.version,
        details_changed=details_changed,
    )
    _compare(diff.lessons, lesson_hashes, lessons)
    _compare(diff.items, item_hashes, items)
    return _Plan(diff, pack_row, lessons, items, lesson_hashes, item_rows, item_hashes)


async def diff_pack(session: AsyncSession, pack: PackModel) -> Diff:
    """What loading `pack` would change; reads only."""
    return (await _plan(session, pack)).diff


async def load_pack(session: AsyncSession, pack: PackModel, *, now: datetime | None = None) -> Diff:
    """Write `pack` in the caller's transaction and return what changed.

    Unchanged ids keep their rows (and so every response and review state);
    ids missing from `pack` are retired, never deleted.
    """
    plan = await _plan(session, pack)
    fields = _pack_fields(pack)
    pack_row = plan.pack_row or models.Pack(id=pack.meta.id, **fields)
    for name, value in fields.items():
        setattr(pack_row, name, value)
    pack_row.loaded_at = now or utcnow()
    session.add(pack_row)
    await session.flush()
    lesson_rows = []
    for lesson in pack.lessons:
        values = lesson_fields(lesson)
        row = plan.lessons.get(lesson.id) or models.Lesson(
            pack_id=pack.meta.id, key=lesson.id, **values
        )
        for name, value in values.items():
            setattr(row, name, value)
        row.content_hash, row.retired = plan.lesson_hashes[lesson.id], False
        session.add(row)
        lesson_rows.append(row)
    await session.flush()
    lesson_ids = {row.key: row.id for row in lesson_rows}
    for key, values in plan.item_rows.items():
        columns = {
            name: value for name, value in values.items() if name not in ("key", "lesson_key")
        }
        columns["lesson_id"] = lesson_ids[values["lesson_key"]]
        item = plan.items.get(key) or models.Item(pack_id=pack.meta.id, key=key, **columns)
        for name, value in columns.items():
            setattr(item, name, value)
        item.content_hash, item.retired = plan.item_hashes[key], False
        session.add(item)
    for key in plan.diff.lessons.retired:
        plan.lessons[key].retired = True
    for key in plan.diff.items.retired:
        plan.items[key].retired = True
    await session.flush()
    return plan.diff
