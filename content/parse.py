"""Reading a pack folder into models, with the file line of everything read.

`parse_pack` never raises for bad content: every problem it meets becomes a
`Problem`; only a path that is not a pack at all raises `PackPathError`.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from content.files import PackFile, inside, read_text
from content.limits import MAX_LESSON_FILES
from content.problems import PackPathError, Problem
from content.safe_yaml import YamlDoc, parse_yaml
from content.schema import ITEM_TYPES, Choice, Commitment, LessonMeta, PackMeta

M = TypeVar("M", bound=BaseModel)

PACK_FILE = "pack.yaml"
LESSONS_DIR = "lessons"
_FENCE = re.compile(r"(`{3,}|~{3,})[ \t]*([\w-]*)[ \t]*")
_MODELS: tuple[type[BaseModel], ...] = (
    PackMeta,
    LessonMeta,
    Choice,
    Commitment,
    *ITEM_TYPES.values(),
)
_KNOWN_KEYS = sorted(
    {"lessons", "body", "quiz", "reflection", "commitment"}.union(
        *({field.alias or name for name, field in model.model_fields.items()} for model in _MODELS)
    )
)
_BLOCKS = ("quiz", "reflection", "commitment")  # the fenced blocks a lesson may end with
_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "model_type": "keys and values",
    "dict_type": "keys and values",
}


@dataclass
class ParsedLesson:
    """One lesson file as read, with what validation needs to point at lines."""

    file: str
    split: bool = False  # front matter, body and blocks were told apart
    meta: LessonMeta | None = None
    front: YamlDoc | None = None
    body: str = ""
    body_line: int = 1
    quiz: YamlDoc | None = None
    items: list[tuple[int, Any]] = field(default_factory=list)  # (index in the quiz, model)
    reflection: str | None = None
    reflection_line: int | None = None
    commitment: Commitment | None = None
    commitment_doc: YamlDoc | None = None


@dataclass
class ParsedPack:
    """A pack folder as read: the parts that parsed, and every problem met."""

    shown: str
    meta: PackMeta | None = None
    meta_doc: YamlDoc | None = None
    lessons: list[ParsedLesson] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _kind(value: object) -> str:
    """How a YAML value looks to the person who wrote it."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "keys and values" if isinstance(value, dict) else type(value).__name__


def _describe(error: Any) -> str:
    """One pydantic error in the words of the pack format."""
    loc = error["loc"]
    names = [part for part in loc if isinstance(part, str)]
    name = f"'{names[-1]}'" if names else "value"
    if loc and isinstance(loc[-1], int):
        name = f"{name} entry {loc[-1] + 1}"
    kind = error["type"]
    if kind == "missing":
        return f"missing required key {name}"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _KNOWN_KEYS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown key {name}{hint}"
    if kind in _EXPECTED:
        found = _kind(error["input"])
        quote = " (put it in quotes)" if kind == "string_type" and found != "nothing" else ""
        if found in ("a list", "keys and values"):
            quote = ""
        return f"{name} must be {_EXPECTED[kind]}, found {found}{quote}"
    return f"{name}: {error['msg']}"


def model_from(model: type[M], doc: YamlDoc) -> tuple[M | None, list[Problem]]:
    """Validate a YAML mapping against a model; problems point at the offending keys."""
    if not isinstance(doc.value, dict):
        return None, [
            Problem(doc.path, doc.line(), f"expected keys and values, found {_kind(doc.value)}")
        ]
    try:
        return model.model_validate(doc.value), []
    except ValidationError as error:
        return None, [
            Problem(doc.path, doc.line(*e["loc"]), _describe(e))
            for e in error.errors()
            if e["type"] != "invalid_key"  # non-text keys are reported while parsing
        ]


def _item(doc: YamlDoc) -> tuple[Any, list[Problem]]:
    """One quiz item, validated against the model for its `type`."""
    if not isinstance(doc.value, dict):
        message = f"a quiz item must be keys and values, found {_kind(doc.value)}"
        return None, [Problem(doc.path, doc.line(), message)]
    kind = doc.value.get("type")
    if kind is None:
        return None, [Problem(doc.path, doc.line(), "missing required key 'type'")]
    if not isinstance(kind, str) or kind not in ITEM_TYPES:
        shown = f"'{kind}'" if isinstance(kind, str) else _kind(kind)
        message = f"unknown item type {shown} (use one of: {', '.join(ITEM_TYPES)})"
        return None, [Problem(doc.path, doc.line("type"), message)]
    return model_from(ITEM_TYPES[kind], doc)


@dataclass
class _Block:
    """A fenced block: the line of its opening fence and its text."""

    line: int
    text: str


def _closing(lines: list[str], start: int, fence: str) -> int | None:
    """The index of the line closing a fence opened at `start`."""
    pattern = re.compile(re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*")
    return next((k for k in range(start + 1, len(lines)) if pattern.fullmatch(lines[k])), None)


def _split(lesson: ParsedLesson, lines: list[str], problems: list[Problem]) -> dict[str, _Block]:
    """Split a lesson file into front matter, body and its quiz/reflection/commitment blocks."""
    blocks: dict[str, _Block] = {}
    if not lines or lines[0].rstrip() != "---":
        problems.append(
            Problem(lesson.file, 1, "a lesson starts with a '---' line, then its front matter")
        )
        return blocks
    end = next((k for k in range(1, len(lines)) if lines[k].rstrip() in ("---", "...")), None)
    if end is None:
        problems.append(Problem(lesson.file, 1, "the front matter is never closed with '---'"))
        return blocks
    blocks["front"] = _Block(1, "\n".join(lines[1:end]))
    lesson.split = True
    body: list[tuple[int, str]] = []
    stray: int | None = None  # the first line of text after the quiz or reflection
    k = end + 1
    while k < len(lines):
        in_body = not blocks.keys() - {"front"}
        opened = _FENCE.fullmatch(lines[k])
        close = _closing(lines, k, opened.group(1)) if opened else None
        if opened and close is None:
            name = opened.group(2) or "code"
            problems.append(Problem(lesson.file, k + 1, f"the {name} block is never closed"))
            break
        name = opened.group(2) if opened else ""
        last = close if close is not None else k
        if name in _BLOCKS and name in blocks:
            message = f"a second ```{name} block; a lesson has one"
            problems.append(Problem(lesson.file, k + 1, message))
        elif name in _BLOCKS:
            blocks[name] = _Block(k + 1, "\n".join(lines[k + 1 : last]))
        elif in_body:
            body.extend((n + 1, lines[n]) for n in range(k, last + 1))
        elif stray is None and any(line.strip() for line in lines[k : last + 1]):
            stray = k + 1
        k = last + 1
    if stray is not None:
        message = "text after the quiz; the lesson body goes above the quiz"
        problems.append(Problem(lesson.file, stray, message))
    written = [(n, text) for n, text in body if text.strip()]
    lesson.body_line = written[0][0] if written else end + 2
    lesson.body = "\n".join(text.rstrip() for _, text in body).strip("\n")
    return blocks


def _read_items(lesson: ParsedLesson, doc: YamlDoc, problems: list[Problem]) -> None:
    """Validate the items of a parsed quiz list."""
    lesson.quiz = doc
    if not isinstance(doc.value, list):
        message = f"the quiz must be a list of items ('- id: …'), found {_kind(doc.value)}"
        problems.append(Problem(lesson.file, doc.line(), message))
        return
    for index in range(len(doc.value)):
        item, found = _item(doc.sub(index))
        problems.extend(found)
        if item is not None:
            lesson.items.append((index, item))


def _parse_quiz(lesson: ParsedLesson, block: _Block | None, problems: list[Problem]) -> None:
    """Read the quiz block into validated items."""
    if block is None:
        problems.append(
            Problem(lesson.file, 1, "no ```quiz block; every lesson ends with its quiz")
        )
        return
    doc = _block_doc(lesson, block, "quiz", problems)
    if doc is not None:
        _read_items(lesson, doc, problems)


def _block_doc(
    lesson: ParsedLesson, block: _Block, name: str, problems: list[Problem]
) -> YamlDoc | None:
    """The YAML of a fenced block, or None with a problem when it is invalid or empty."""
    doc, found = parse_yaml(block.text, path=lesson.file, offset=block.line)
    problems.extend(found)
    if doc is None and not found:
        problems.append(Problem(lesson.file, block.line, f"the {name} block is empty"))
    return doc


def _read_commitment(lesson: ParsedLesson, doc: YamlDoc, problems: list[Problem]) -> None:
    """Validate a commitment mapping (`try` and `follow_up`)."""
    lesson.commitment_doc = doc
    if not isinstance(doc.value, dict):
        kind = _kind(doc.value)
        message = f"the commitment must be keys and values ('try:', 'follow_up:'), found {kind}"
        problems.append(Problem(lesson.file, doc.line(), message))
        return
    lesson.commitment, found = model_from(Commitment, doc)
    problems.extend(found)


def parse_lesson(file: PackFile, *, root: Path) -> tuple[ParsedLesson, list[Problem]]:
    """Read one lesson file."""
    lesson = ParsedLesson(file=file.shown)
    text, problem = read_text(file, root=root)
    if problem is not None:
        return lesson, [problem]
    problems: list[Problem] = []
    if not text or not text.strip():
        return lesson, [Problem(file.shown, None, "empty file; a lesson starts with '---'")]
    blocks = _split(lesson, text.split("\n"), problems)
    if "front" not in blocks:
        return lesson, problems
    front, found = parse_yaml(blocks["front"].text, path=file.shown, offset=1)
    problems.extend(found)
    if front is None and not found:
        problems.append(Problem(file.shown, 1, "the front matter is empty"))
    if front is not None:
        lesson.front = front
        lesson.meta, found = model_from(LessonMeta, front)
        problems.extend(found)
    _parse_quiz(lesson, blocks.get("quiz"), problems)
    if "reflection" in blocks:
        block = blocks["reflection"]
        lesson.reflection = block.text.strip()
        lesson.reflection_line = block.line + 1
        if not lesson.reflection:
            problems.append(Problem(file.shown, block.line, "the reflection block is empty"))
    if "commitment" in blocks:
        doc = _block_doc(lesson, blocks["commitment"], "commitment", problems)
        if doc is not None:
            _read_commitment(lesson, doc, problems)
    return lesson, problems


def shown_path(path: Path) -> str:
    """How to name a path in messages: relative to the working folder when inside it."""
    if not path.is_absolute():
        return str(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@dataclass(frozen=True, slots=True)
class PackLocation:
    """Where a pack is: its folder, how to name it, and its file if it is a single YAML file."""

    root: Path
    shown: str
    single_file: Path | None = None


def locate_pack(path: Path, *, shown: str | None = None) -> PackLocation:
    """Where the pack at `path` is, or `PackPathError` saying why it is not one."""
    shown = shown if shown is not None else shown_path(path)
    if not path.exists() and not path.is_symlink():
        raise PackPathError(f"{shown}: no such file or folder")
    if path.is_file() and path.name == PACK_FILE:
        return PackLocation(path.parent, str(Path(shown).parent))
    if path.is_file() and path.suffix in (".yaml", ".yml"):
        return PackLocation(path.resolve().parent, shown, single_file=path)
    if not path.is_dir():
        message = f"not a pack (give the folder that holds {PACK_FILE}, or a .yaml pack file)"
        raise PackPathError(f"{shown}: {message}")
    if not any(path.iterdir()):
        raise PackPathError(f"{shown}: empty folder, not a pack (no {PACK_FILE})")
    if not (path / PACK_FILE).exists() and not (path / PACK_FILE).is_symlink():
        raise PackPathError(f"{shown}: not a pack (no {PACK_FILE} in it)")
    return PackLocation(path, shown)


def _lesson_files(root: Path, shown: str, problems: list[Problem]) -> list[PackFile]:
    """The lesson files of a pack, in name order, capped in number."""
    folder = root / LESSONS_DIR
    folder_shown = f"{shown}/{LESSONS_DIR}"
    if not folder.is_dir():
        problems.append(
            Problem(folder_shown, None, f"missing: a pack keeps its lessons in {LESSONS_DIR}/")
        )
        return []
    if not inside(folder, root):
        problems.append(
            Problem(folder_shown, None, "refused: the link points outside the pack folder")
        )
        return []
    names: list[str] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.endswith(".md") and not entry.name.startswith("."):
                names.append(entry.name)
                if len(names) > MAX_LESSON_FILES:
                    message = f"more than {MAX_LESSON_FILES} lesson files"
                    problems.append(Problem(folder_shown, None, message))
                    return []
    if not names:
        problems.append(Problem(folder_shown, None, "no lessons (*.md files) in it"))
    return [PackFile(folder / name, f"{folder_shown}/{name}") for name in sorted(names)]


def _without(doc: YamlDoc, *keys: str) -> YamlDoc:
    """The same mapping without some keys (positions unchanged)."""
    if not isinstance(doc.value, dict):
        return doc
    value = {key: item for key, item in doc.value.items() if key not in keys}
    return YamlDoc(value=value, node=doc.node, path=doc.path, offset=doc.offset)


def _text_line(doc: YamlDoc, key: str) -> int:
    """The first line of the text under `key` (the line after `key: |`)."""
    block = getattr(doc.sub(key).node, "style", None) in ("|", ">")
    return doc.line(key) + int(block)


def _text_value(doc: YamlDoc, key: str, problems: list[Problem]) -> str | None:
    """The text under `key` of a mapping, or None with a problem when it is not text."""
    value = doc.value.get(key)
    if isinstance(value, str):
        return value.strip()
    found = _describe({"loc": (key,), "type": "string_type", "input": value})
    problems.append(Problem(doc.path, doc.line(key), found))
    return None


def _lesson_mapping(doc: YamlDoc, problems: list[Problem]) -> ParsedLesson:
    """One lesson written as a mapping inside a single-file pack."""
    lesson = ParsedLesson(file=doc.path)
    if not isinstance(doc.value, dict):
        message = f"a lesson must be keys and values, found {_kind(doc.value)}"
        problems.append(Problem(doc.path, doc.line(), message))
        return lesson
    lesson.front = doc
    parts = ("body", "quiz", "reflection", "commitment")
    lesson.meta, found = model_from(LessonMeta, _without(doc, *parts))
    problems.extend(found)
    for key in ("body", "quiz"):
        if key not in doc.value:
            problems.append(Problem(doc.path, doc.line(), f"missing required key '{key}'"))
    if "body" in doc.value:
        body = _text_value(doc, "body", problems)
        lesson.split = body is not None
        lesson.body, lesson.body_line = body or "", _text_line(doc, "body")
    if "quiz" in doc.value:
        _read_items(lesson, doc.sub("quiz"), problems)
    if "reflection" in doc.value:
        lesson.reflection = _text_value(doc, "reflection", problems)
        lesson.reflection_line = _text_line(doc, "reflection")
        if lesson.reflection == "":
            problems.append(Problem(doc.path, doc.line("reflection"), "the reflection is empty"))
    if "commitment" in doc.value:
        _read_commitment(lesson, doc.sub("commitment"), problems)
    return lesson


def _parse_single_file(file: PackFile, root: Path, parsed: ParsedPack) -> None:
    """Read a pack written as one YAML file: the pack keys plus `lessons`."""
    text, problem = read_text(file, root=root)
    if text is None:
        parsed.problems.extend(p for p in (problem,) if p is not None)
        return
    doc, found = parse_yaml(text, path=file.shown, offset=0)
    parsed.problems.extend(found)
    if doc is None:
        if not found:
            parsed.problems.append(Problem(file.shown, None, "empty file"))
        return
    parsed.meta_doc = doc
    parsed.meta, found = model_from(PackMeta, _without(doc, "lessons"))
    parsed.problems.extend(found)
    if not isinstance(doc.value, dict):
        return
    lessons = doc.value.get("lessons")
    if not isinstance(lessons, list) or not lessons:
        message = f"'lessons' must be a list of lessons, found {_kind(lessons)}"
        parsed.problems.append(Problem(file.shown, doc.line("lessons"), message))
        return
    if len(lessons) > MAX_LESSON_FILES:
        message = f"more than {MAX_LESSON_FILES} lessons"
        parsed.problems.append(Problem(file.shown, doc.line("lessons"), message))
        return
    for index in range(len(lessons)):
        parsed.lessons.append(_lesson_mapping(doc.sub("lessons", index), parsed.problems))


def _parse_folder(root: Path, parsed: ParsedPack) -> None:
    """Read a pack folder: pack.yaml and lessons/*.md."""
    meta_file = PackFile(root / PACK_FILE, f"{parsed.shown}/{PACK_FILE}")
    text, problem = read_text(meta_file, root=root)
    if problem is not None:
        parsed.problems.append(problem)
    elif text is not None:
        doc, found = parse_yaml(text, path=meta_file.shown, offset=0)
        parsed.problems.extend(found)
        if doc is None and not found:
            parsed.problems.append(Problem(meta_file.shown, None, "empty file"))
        if doc is not None:
            parsed.meta_doc = doc
            parsed.meta, found = model_from(PackMeta, doc)
            parsed.problems.extend(found)
    for file in _lesson_files(root, parsed.shown, parsed.problems):
        lesson, found = parse_lesson(file, root=root)
        parsed.lessons.append(lesson)
        parsed.problems.extend(found)


def parse_pack(path: Path, *, shown: str | None = None) -> ParsedPack:
    """Read a pack folder, its pack.yaml, or a single-file pack.

    Raises `PackPathError` when `path` is not a pack at all.
    """
    location = locate_pack(path, shown=shown)
    parsed = ParsedPack(shown=location.shown)
    if location.single_file is not None:
        file = PackFile(location.single_file, location.shown)
        _parse_single_file(file, location.root, parsed)
    else:
        _parse_folder(location.root, parsed)
    return parsed
