"""Grading: a learner's buttons or typed text against an item, and the feedback they see.

Choice ids follow CONTRACTS.md: `c0`, `c1`, … index `data["choices"]` (multiple
choice adds `done`), true/false uses `true` and `false`; short and numeric
items are typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.coaching.typed_answers import NotAnAnswer, match_short, read_number
from bot.messages import Outbound, OutboundKind
from storage.models import Item

TYPED_TYPES = ("short", "numeric")
DONE = "done"


@dataclass(frozen=True, slots=True)
class Grade:
    """The outcome of one answer: right or wrong, what was answered and why."""

    correct: bool
    answer: str
    feedback: tuple[str, ...]
    right_answer: str
    close: bool = False  # a wrong typed answer near an accepted one: "Close: …"


def choice_index(choice_id: str, choices: Sequence[Any]) -> int:
    """The index behind a `cN` choice id; NotAnAnswer when it names no choice."""
    if not re.fullmatch(r"c\d+", choice_id) or int(choice_id[1:]) >= len(choices):
        raise NotAnAnswer(f"unknown choice {choice_id!r}")
    return int(choice_id[1:])


def _right_choices(item: Item) -> str:
    """The texts of the correct choices, joined for a sentence."""
    return " + ".join(c["text"] for c in item.data["choices"] if c["correct"])


def grade_choices(item: Item, choice_ids: Sequence[str]) -> Grade:
    """Grade button answers: one id for single and true/false, the picked set for multiple."""
    if item.type == "true_false":
        if len(choice_ids) != 1 or choice_ids[0] not in ("true", "false"):
            raise NotAnAnswer(f"unknown choice {choice_ids!r}")
        picked = choice_ids[0] == "true"
        note = item.data.get("feedback_true" if picked else "feedback_false")
        return Grade(
            correct=picked == bool(item.data["answer"]),
            answer=choice_ids[0],
            feedback=(note,) if note else (),
            right_answer="True" if item.data["answer"] else "False",
        )
    if item.type not in ("single", "multiple"):
        raise NotAnAnswer(f"a {item.type} item is answered by typing")
    choices = item.data["choices"]
    indices = sorted({choice_index(choice_id, choices) for choice_id in choice_ids})
    if not indices or (item.type == "single" and len(indices) != 1):
        raise NotAnAnswer("pick one choice")
    right = {index for index, choice in enumerate(choices) if choice["correct"]}
    return Grade(
        correct=set(indices) == right,
        answer=",".join(f"c{index}" for index in indices),
        feedback=tuple(choices[i]["feedback"] for i in indices if choices[i].get("feedback")),
        right_answer=_right_choices(item),
    )


def _numeric_target(data: dict[str, Any]) -> str:
    """The right numeric answer as people read it."""
    unit = f" {data['unit']}" if data.get("unit") else ""
    if data.get("range"):
        low, high = data["range"]
        return f"{low:g}–{high:g}{unit}"
    tolerance = f" (± {data['tolerance']:g})" if data.get("tolerance") else ""
    return f"{data['answer']:g}{unit}{tolerance}"


def grade_text(item: Item, text: str) -> Grade:
    """Grade a typed answer to a short or numeric item."""
    answer = text.strip()
    if item.type == "short":
        accepted = item.data["accepted"]
        match = match_short(accepted, answer, prompt=item.prompt)
        return Grade(match.correct, answer, (), accepted[0], close=match.close)
    if item.type != "numeric":
        raise NotAnAnswer(f"a {item.type} item is answered with the buttons")
    data = item.data
    value = read_number(answer, unit=data.get("unit"))
    if data.get("range"):
        low, high = data["range"]
        correct = low <= value <= high
    else:
        correct = abs(value - data["answer"]) <= float(data.get("tolerance") or 0) + 1e-9
    return Grade(correct, answer, (), _numeric_target(data))


def guess_floor(item: Item) -> float:
    """The chance of guessing right: the g of the review expectation g + (1 − g)·R.

    Single choice: 1/choices; true/false: 1/2; multiple choice: one of the
    2^n − 1 non-empty subsets, 1/(2^n − 1); typed answers: 0.
    """
    if item.type == "single":
        return 1 / len(item.data["choices"])
    if item.type == "true_false":
        return 0.5
    if item.type == "multiple":
        return 1 / (2 ** len(item.data["choices"]) - 1)
    return 0.0


def verdict(grade: Grade) -> str:
    """Right, close (naming the key), or not quite with the right answer: one line."""
    if grade.correct:
        return "✅ *Right*"
    if grade.close:
        what = "word" if len(grade.right_answer.split()) == 1 else "answer"
        return f"🤏 *Close:* the {what} we were after is *{grade.right_answer}*"
    return f"❌ *Not quite.* The answer: *{grade.right_answer}*"


def feedback_message(item: Item, grade: Grade, *, late: bool = False) -> Outbound:
    """What the learner reads after answering: verdict, choice feedback, the why in small print."""
    lines = [verdict(grade)]
    lines.extend(grade.feedback)
    small = [f"_Why:_ {item.explanation}"] if item.explanation else []
    if late:
        small.append("_Answered after its day, so it counts as late._")
    return Outbound(
        kind=OutboundKind.FEEDBACK,
        sections=tuple((line,) for line in lines),
        context=("\n".join(small),) if small else (),
    )
