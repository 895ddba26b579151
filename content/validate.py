"""Every rule of the pack format beyond types: limits, answers, unique ids and order."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

from content import limits
from content.parse import ParsedLesson, ParsedPack, parse_pack
from content.problems import Problem, errors
from content.safe_yaml import YamlDoc
from content.schema import (
    LessonModel,
    MultipleItem,
    NumericItem,
    PackModel,
    ShortItem,
    SingleItem,
    TrueFalseItem,
)

_LETTER_OR_DIGIT = re.compile(r"[^\W_]")
_LIST_MARKER = re.compile(r"^[ \t]*(?:\d+[.)]|[-*+>#]+)[ \t]", re.MULTILINE)
Report = Callable[[int, str], None]


def word_count(text: str) -> int:
    """Words in a Markdown body: runs of non-space holding a letter or digit."""
    tokens = _LIST_MARKER.sub("", text).split()
    return sum(1 for token in tokens if _LETTER_OR_DIGIT.search(token))


def _reporter(problems: list[Problem], path: str, *, warning: bool = False) -> Report:
    """A function adding problems about one file."""

    def report(line: int, message: str) -> None:
        problems.append(Problem(path, line, message, warning=warning))

    return report


def _check_id(value: str, what: str, line: int, report: Report) -> None:
    """Ids are short, lowercase and safe in button payloads."""
    if not limits.ID_PATTERN.fullmatch(value):
        report(line, f"{what} '{value}' must be {limits.ID_RULE}")


def _check_text(
    value: str | None, what: str, line: int, report: Report, *, limit: int, required: bool = True
) -> None:
    """Text is present when required and fits its limit."""
    if value is None:
        return
    if required and not value.strip():
        report(line, f"{what} is empty")
    elif len(value) > limit:
        report(line, f"{what} is {len(value):,} characters; the limit is {limit:,}")


def _control_character(text: str) -> str | None:
    """The first control character other than a line break or tab, if any."""
    return next(
        (c for c in text if c not in "\n\t" and unicodedata.category(c) in ("Cc", "Cf")), None
    )


def _check_pack_meta(parsed: ParsedPack, problems: list[Problem]) -> None:
    """The keys of pack.yaml."""
    meta, doc = parsed.meta, parsed.meta_doc
    if meta is None or doc is None:
        return
    report = _reporter(problems, doc.path)
    _check_id(meta.id, "pack id", doc.line("id"), report)
    _check_text(meta.title, "title", doc.line("title"), report, limit=limits.PACK_TITLE)
    _check_text(meta.version, "version", doc.line("version"), report, limit=limits.VERSION_CHARS)
    for key in ("language", "audience", "description"):
        value = getattr(meta, key)
        _check_text(value, key, doc.line(key), report, limit=limits.PACK_TEXT_CHARS)
    for topic, name in meta.topics.items():
        line = doc.line("topics", topic)
        _check_id(topic, "topic", line, report)
        what = f"the name of topic '{topic}'"
        _check_text(name, what, line, report, limit=limits.TOPIC_NAME_CHARS)


def _check_body(lesson: ParsedLesson, report: Report) -> None:
    """The lesson body: 60–150 words that fit one message."""
    words = word_count(lesson.body)
    if not limits.LESSON_WORDS_MIN <= words <= limits.LESSON_WORDS_MAX:
        rule = f"lessons have {limits.LESSON_WORDS_MIN}–{limits.LESSON_WORDS_MAX} words"
        report(lesson.body_line, f"the body has {words} words; {rule}")
    _check_text(
        lesson.body,
        "the body",
        lesson.body_line,
        report,
        limit=limits.LESSON_BODY_CHARS,
        required=False,
    )
    bad = _control_character(lesson.body)
    if bad is not None:
        report(lesson.body_line, f"the body holds control character U+{ord(bad):04X}")


def _check_lesson_meta(lesson: ParsedLesson, report: Report) -> None:
    """A lesson's front matter."""
    meta, doc = lesson.meta, lesson.front
    if meta is None or doc is None:
        return
    _check_id(meta.id, "lesson id", doc.line("id"), report)
    _check_id(meta.topic, "topic", doc.line("topic"), report)
    _check_text(meta.title, "title", doc.line("title"), report, limit=limits.LESSON_TITLE)
    if not 1 <= meta.order <= limits.ORDER_MAX:
        rule = f"a whole number from 1 to {limits.ORDER_MAX:,}"
        report(doc.line("order"), f"order must be {rule}, found {meta.order}")


def _check_choices(
    item: SingleItem | MultipleItem, doc: YamlDoc, report: Report, warn: Report
) -> None:
    """Choices: how many, their texts, their feedback and which are right."""
    count = len(item.choices)
    if not limits.CHOICES_MIN <= count <= limits.CHOICES_MAX:
        rule = f"{limits.CHOICES_MIN}–{limits.CHOICES_MAX}"
        report(doc.line("choices"), f"'{item.id}' has {count} choices; give {rule}")
    seen: set[str] = set()
    for index, choice in enumerate(item.choices):
        line = doc.line("choices", index)
        _check_text(choice.text, "choice text", line, report, limit=limits.CHOICE_CHARS)
        if choice.text.strip().casefold() in seen:
            report(line, f"'{item.id}' repeats the choice '{choice.text}'")
        seen.add(choice.text.strip().casefold())
        feedback_line = doc.line("choices", index, "feedback")
        _check_text(choice.feedback, "feedback", feedback_line, report, limit=limits.FEEDBACK_CHARS)
        if not choice.correct and not choice.feedback:
            warn(line, f"wrong choice of '{item.id}' has no feedback")
    right = sum(choice.correct for choice in item.choices)
    if isinstance(item, SingleItem) and right != 1:
        report(doc.line("choices"), f"'{item.id}' needs exactly one correct choice, found {right}")
    if isinstance(item, MultipleItem) and right < 1:
        report(doc.line("choices"), f"'{item.id}' needs at least one correct choice, found none")


def _check_short(item: ShortItem, doc: YamlDoc, report: Report, warn: Report) -> None:
    """Accepted answers exist and each holds a letter or digit; a lone one-word key is a warning."""
    if not item.accepted:
        report(doc.line("accepted"), f"'{item.id}' needs at least one accepted answer")
    elif len(item.accepted) == 1 and len(item.accepted[0].split()) == 1:
        message = (
            f"'{item.id}' accepts only the one word '{item.accepted[0]}'; "
            "list the other answers a learner may fairly type"
        )
        warn(doc.line("accepted"), message)
    for index, answer in enumerate(item.accepted):
        line = doc.line("accepted", index)
        if not _LETTER_OR_DIGIT.search(answer):
            report(line, f"accepted answer '{answer}' has no letters or digits to compare")
        else:
            _check_text(answer, "accepted answer", line, report, limit=limits.ACCEPTED_CHARS)


def _check_numeric(item: NumericItem, doc: YamlDoc, report: Report) -> None:
    """A numeric item has an answer (with tolerance) or a range, never both."""
    numbers = [item.answer, item.tolerance, *(item.range or [])]
    if any(n is not None and not math.isfinite(n) for n in numbers):
        report(doc.line(), f"'{item.id}' uses a number that is not finite")
    if (item.answer is None) == (item.range is None):
        report(doc.line(), f"'{item.id}' needs either 'answer' (with 'tolerance') or 'range'")
    if item.tolerance < 0:
        report(doc.line("tolerance"), f"tolerance must not be negative, found {item.tolerance:g}")
    if item.range is not None and item.answer is None:
        if len(item.range) != 2:
            report(doc.line("range"), f"range must be [low, high], found {len(item.range)} numbers")
        elif item.range[0] > item.range[1]:
            low, high = item.range
            report(doc.line("range"), f"range low {low:g} is above high {high:g}")
    _check_text(item.unit, "unit", doc.line("unit"), report, limit=limits.UNIT_CHARS)


def _check_item(item: Any, doc: YamlDoc, report: Report, warn: Report) -> None:
    """One quiz item: id, texts and its answer."""
    _check_id(item.id, "item id", doc.line("id"), report)
    _check_text(item.prompt, "prompt", doc.line("prompt"), report, limit=limits.PROMPT_CHARS)
    explanation_line = doc.line("explanation")
    _check_text(
        item.explanation, "explanation", explanation_line, report, limit=limits.EXPLANATION_CHARS
    )
    if isinstance(item, SingleItem | MultipleItem):
        _check_choices(item, doc, report, warn)
    elif isinstance(item, TrueFalseItem):
        for key in ("feedback_true", "feedback_false"):
            value = getattr(item, key)
            _check_text(value, key, doc.line(key), report, limit=limits.FEEDBACK_CHARS)
    elif isinstance(item, ShortItem):
        _check_short(item, doc, report, warn)
    elif isinstance(item, NumericItem):
        _check_numeric(item, doc, report)


def _check_commitment(lesson: ParsedLesson, report: Report) -> None:
    """A commitment's action and follow-up question are present and fit their limits."""
    commitment, doc = lesson.commitment, lesson.commitment_doc
    if commitment is None or doc is None:
        return
    try_line, follow_line = doc.line("try"), doc.line("follow_up")
    _check_text(
        commitment.try_,
        "the commitment's 'try'",
        try_line,
        report,
        limit=limits.COMMITMENT_TRY_CHARS,
    )
    _check_text(
        commitment.follow_up,
        "the commitment's 'follow_up'",
        follow_line,
        report,
        limit=limits.COMMITMENT_FOLLOW_UP_CHARS,
    )
    for text, line in ((commitment.try_, try_line), (commitment.follow_up, follow_line)):
        bad = _control_character(text)
        if bad is not None:
            report(line, f"the commitment holds control character U+{ord(bad):04X}")
    together = len(lesson.body) + len(commitment.try_)
    if len(commitment.try_) <= limits.COMMITMENT_TRY_CHARS and together > limits.LESSON_BODY_CHARS:
        message = (
            f"the body and the commitment's 'try' are {together:,} characters together; "
            f"the lesson message holds {limits.LESSON_BODY_CHARS:,}"
        )
        report(try_line, message)


def _check_unique(parsed: ParsedPack, problems: list[Problem]) -> None:
    """Lesson ids, item ids (across the pack) and lesson order are unique.

    Raw values are used, so an item with other problems still counts.
    """
    first: dict[tuple[str, object], str] = {}

    def claim(kind: str, value: object, path: str, line: int) -> None:
        where = f"{path}:{line}"
        if (kind, value) in first:
            message = f"duplicate {kind} '{value}' (first at {first[kind, value]})"
            problems.append(Problem(path, line, message))
        else:
            first[kind, value] = where

    for lesson in parsed.lessons:
        if lesson.front is not None and isinstance(lesson.front.value, dict):
            for key, kind in (("id", "lesson id"), ("order", "order")):
                value = lesson.front.value.get(key)
                if isinstance(value, str | int) and not isinstance(value, bool):
                    claim(kind, value, lesson.file, lesson.front.line(key))
        if lesson.quiz is not None and isinstance(lesson.quiz.value, list):
            for index, item in enumerate(lesson.quiz.value):
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    claim("item id", item["id"], lesson.file, lesson.quiz.line(index, "id"))


def check_pack(parsed: ParsedPack) -> list[Problem]:
    """Every rule the parsed parts break, in file order."""
    problems: list[Problem] = []
    _check_pack_meta(parsed, problems)
    for lesson in parsed.lessons:
        report = _reporter(problems, lesson.file)
        warn = _reporter(problems, lesson.file, warning=True)
        _check_lesson_meta(lesson, report)
        if lesson.split:
            _check_body(lesson, report)
        if lesson.reflection and lesson.reflection_line is not None:
            _check_text(
                lesson.reflection,
                "the reflection",
                lesson.reflection_line,
                report,
                limit=limits.REFLECTION_CHARS,
            )
        _check_commitment(lesson, report)
        if lesson.quiz is not None:
            if isinstance(lesson.quiz.value, list) and not lesson.quiz.value:
                report(lesson.quiz.line(), "the quiz has no items")
            for index, item in lesson.items:
                _check_item(item, lesson.quiz.sub(index), report, warn)
    _check_unique(parsed, problems)
    return problems


def _build(parsed: ParsedPack) -> PackModel | None:
    """The pack model of a parsed pack, once it has no errors."""
    if parsed.meta is None:
        return None
    lessons = [
        LessonModel(
            **lesson.meta.model_dump(),
            body=lesson.body,
            items=[item for _, item in lesson.items],
            reflection=lesson.reflection,
            commitment=lesson.commitment,
            source=lesson.file,
        )
        for lesson in parsed.lessons
        if lesson.meta is not None
    ]
    return PackModel(meta=parsed.meta, lessons=sorted(lessons, key=lambda each: each.order))


def read_pack(path: Path, *, shown: str | None = None) -> tuple[PackModel | None, list[Problem]]:
    """Read and check a pack: the model (None if any error) and every problem, in file order.

    Raises `PackPathError` when `path` is not a pack at all.
    """
    parsed = parse_pack(path, shown=shown)
    problems = parsed.problems + check_pack(parsed)
    problems.sort(key=lambda p: (p.path, p.line or 0))
    if errors(problems):
        return None, problems
    return _build(parsed), problems
