"""`packs validate`: every problem of a pack, each at its exact file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from content import read_pack
from content.validate import word_count
from tests.packs import L1, L2, L3, SAMPLE, copy_sample, edit

LONG = "word " * 151

# (file, text to replace, replacement, the problem expected at file:line)
CASES = {
    "missing explanation": (
        L1,
        "  explanation: A greeting and a time turn waiting into being looked after.\n",
        "",
        f"{L1}:19: missing required key 'explanation'",
    ),
    "missing prompt": (
        L2,
        "  prompt: What should you do with a message before you send it? (two words)\n",
        "",
        f"{L2}:24: missing required key 'prompt'",
    ),
    "unknown key": (
        L1,
        "  prompt: A resident",
        "  promt: A resident",
        f"{L1}:21: unknown key 'promt' (did you mean 'prompt'?)",
    ),
    "duplicate item id": (
        L2,
        "- id: read-aloud",
        "- id: greet-first",
        f"{L2}:24: duplicate item id 'greet-first' (first at pack/{L1}:19)",
    ),
    "duplicate lesson id": (
        L2,
        "id: plain-words",
        "id: first-contact",
        f"{L2}:2: duplicate lesson id 'first-contact' (first at pack/{L1}:2)",
    ),
    "duplicate order": (
        L3,
        "order: 3",
        "order: 1",
        f"{L3}:5: duplicate order '1' (first at pack/{L1}:5)",
    ),
    "single without a correct choice": (
        L1,
        "      correct: true\n    - text: Point",
        "      feedback: Now wrong.\n    - text: Point",
        f"{L1}:22: 'greet-first' needs exactly one correct choice, found 0",
    ),
    "single with two correct choices": (
        L1,
        "      feedback: A sign is not a greeting.",
        "      correct: true",
        f"{L1}:22: 'greet-first' needs exactly one correct choice, found 2",
    ),
    "multiple without a correct choice": (
        L1,
        "    - text: Saying your name.\n      correct: true\n"
        "    - text: Telling them what happens next.\n      correct: true\n",
        "    - text: Saying your name.\n      feedback: No.\n"
        "    - text: Telling them what happens next.\n      feedback: No.\n",
        f"{L1}:33: 'good-signals' needs at least one correct choice, found none",
    ),
    "true/false answer that does not exist": (
        L2,
        "  answer: false",
        "  answer: maybe",
        f"{L2}:20: 'answer' must be true or false, found text",
    ),
    "true/false without answer": (
        L2,
        "  answer: false\n",
        "",
        f"{L2}:17: missing required key 'answer'",
    ),
    "short without accepted answers": (
        L2,
        "  accepted:\n    - read it aloud\n    - read aloud\n",
        "  accepted: []\n",
        f"{L2}:27: 'read-aloud' needs at least one accepted answer",
    ),
    "numeric without answer or range": (
        L3,
        "  answer: 2\n",
        "",
        f"{L3}:17: 'callback-days' needs either 'answer' (with 'tolerance') or 'range'",
    ),
    "numeric with answer and range": (
        L3,
        "  range: [3, 5]\n",
        "  range: [3, 5]\n  answer: 4\n",
        f"{L3}:24: 'estimate-range' needs either 'answer' (with 'tolerance') or 'range'",
    ),
    "numeric range upside down": (
        L3,
        "[3, 5]",
        "[5, 3]",
        f"{L3}:27: range low 5 is above high 3",
    ),
    "numeric answer as text": (
        L3,
        "  answer: 2\n",
        "  answer: two\n",
        f"{L3}:20: 'answer' must be a number, found text",
    ),
    "prompt over the Telegram poll limit": (
        L1,
        "  prompt: A resident walks up while you finish an email. What do you do first?",
        "  prompt: " + "x" * 301,
        f"{L1}:21: prompt is 301 characters; the limit is 300",
    ),
    "choice text over 100": (
        L1,
        "    - text: Point at the queue sign.",
        "    - text: " + "x" * 101,
        f"{L1}:27: choice text is 101 characters; the limit is 100",
    ),
    "feedback over 200": (
        L1,
        "      feedback: A sign is not a greeting.",
        "      feedback: " + "x" * 201,
        f"{L1}:28: feedback is 201 characters; the limit is 200",
    ),
    "explanation over 600": (
        L1,
        "  explanation: A greeting and a time turn waiting into being looked after.",
        "  explanation: " + "x" * 601,
        f"{L1}:29: explanation is 601 characters; the limit is 600",
    ),
    "true/false feedback over 200": (
        L2,
        "  feedback_true: It sounds official, but it does not say what was done.",
        "  feedback_true: " + "x" * 201,
        f"{L2}:21: feedback_true is 201 characters; the limit is 200",
    ),
    "too many choices": (
        L1,
        "    - text: Point at the queue sign.\n      feedback: A sign is not a greeting.\n",
        "".join(f"    - text: Choice {n}\n      feedback: No.\n" for n in range(9)),
        f"{L1}:22: 'greet-first' has 11 choices; give 2–10",
    ),
    "reflection over 500": (
        L1,
        "Think of the last person who waited for you.",
        "x" * 501,
        f"{L1}:44: the reflection is 545 characters; the limit is 500",
    ),
    "lesson title over 150": (
        L1,
        "title: The first ten seconds",
        "title: " + "x" * 151,
        f"{L1}:3: title is 151 characters; the limit is 150",
    ),
    "body over 150 words": (
        L2,
        "Jargon protects the writer, not the reader.",
        LONG,
        f"{L2}:7: the body has 227 words; lessons have 60–150 words",
    ),
    "body under 60 words": (
        L3,
        (SAMPLE / L3).read_text(encoding="utf-8").split("---\n")[2].split("\n\n```")[0],
        "Greet people warmly and tell them what happens next.",
        f"{L3}:7: the body has 9 words; lessons have 60–150 words",
    ),
    "id with capitals and spaces": (
        L1,
        "- id: greet-first",
        "- id: Greet First",
        f"{L1}:19: item id 'Greet First' must be 1–40 characters of a-z, 0-9, '-' and '_'",
    ),
    "order that is not a number": (
        L1,
        "order: 1",
        "order: first",
        f"{L1}:5: 'order' must be a whole number, found text",
    ),
    "unknown item type": (
        L1,
        "  type: single",
        "  type: choice",
        f"{L1}:20: unknown item type 'choice' (use one of: single, multiple, true_false, "
        "short, numeric)",
    ),
    "duplicate YAML key": (
        L1,
        "  type: single\n",
        "  type: single\n  type: multiple\n",
        f"{L1}:21: duplicate key 'type'",
    ),
    "key that is not text": (
        L1,
        "  type: single\n",
        "  type: single\n  yes: x\n",
        f"{L1}:21: key 'yes' must be text",
    ),
    "YAML syntax error": (
        L2,
        "  explanation: Say what you did, in the words you would use aloud.",
        "  explanation: [unclosed",
        f"{L2}:24: invalid YAML: while parsing a flow sequence, expected ',' or ']', but got ':'",
    ),
    "YAML anchors": (
        L3,
        "  unit: days\n  explanation: Two",
        "  unit: &u days\n  explanation: Two",
        f"{L3}:22: invalid YAML: anchors and aliases (& and *) are not allowed",
    ),
    "quiz that is a mapping": (
        L3,
        "```quiz\n- id: callback-days",
        "```quiz\nitems:\n- id: callback-days",
        f"{L3}:17: the quiz must be a list of items ('- id: …'), found keys and values",
    ),
    "no quiz block": (
        L2,
        "```quiz",
        "```text",
        f"{L2}:1: no ```quiz block; every lesson ends with its quiz",
    ),
    "no front matter": (
        L3,
        "---\nid: waiting-times",
        "id: waiting-times",
        f"{L3}:1: a lesson starts with a '---' line, then its front matter",
    ),
    "unclosed quiz block": (
        L2,
        "  explanation: Reading aloud catches jargon your eyes skip over.\n```",
        "  explanation: Reading aloud catches jargon your eyes skip over.\n",
        f"{L2}:16: the quiz block is never closed",
    ),
    "text after the quiz": (
        L1,
        "```\n\n```reflection",
        "```\nOne more thing.\n```reflection",
        f"{L1}:42: text after the quiz; the lesson body goes above the quiz",
    ),
    "second quiz block": (
        L1,
        "```reflection",
        "```quiz\n[]\n```\n```reflection",
        f"{L1}:43: a second ```quiz block; a lesson has one",
    ),
    "empty reflection": (
        L1,
        "Think of the last person who waited for you. What did they see in the first ten seconds?",
        "",
        f"{L1}:43: the reflection block is empty",
    ),
    "pack.yaml missing a key": (
        "pack.yaml",
        "audience: Test learners\n",
        "",
        "pack.yaml:1: missing required key 'audience'",
    ),
    "pack version as a number": (
        "pack.yaml",
        'version: "1.0"',
        "version: 1.0",
        "pack.yaml:3: 'version' must be text, found a number (put it in quotes)",
    ),
    "pack id with capitals": (
        "pack.yaml",
        "id: sample-pack",
        "id: Sample",
        "pack.yaml:1: pack id 'Sample' must be 1–40 characters of a-z, 0-9, '-' and '_'",
    ),
}


def test_sample_pack_is_valid():
    pack, problems = read_pack(SAMPLE)
    assert problems == []
    assert pack is not None
    lessons = [lesson.id for lesson in pack.lessons]
    assert lessons == ["first-contact", "plain-words", "waiting-times"]
    assert {item.type for lesson in pack.lessons for item in lesson.items} == {
        "single",
        "multiple",
        "true_false",
        "short",
        "numeric",
    }
    assert pack.lessons[0].reflection is not None


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_each_problem_is_reported_at_its_line(tmp_path: Path, case: tuple[str, str, str, str]):
    file, old, new, expected = case
    pack = copy_sample(tmp_path)
    edit(pack, file, old, new)
    model, problems = read_pack(Path("pack"))
    assert model is None
    assert f"pack/{expected}" in [str(problem) for problem in problems]


def test_validate_prints_every_problem_at_once(tmp_path: Path, cli):
    pack = copy_sample(tmp_path)
    for file, old, new, _ in (
        CASES["missing explanation"],
        CASES["duplicate item id"],
        CASES["numeric range upside down"],
        CASES["pack version as a number"],
    ):
        edit(pack, file, old, new)
    result = cli("packs", "validate", "pack")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"pack/{L1}:19: missing required key 'explanation'",
        f"pack/{L2}:24: duplicate item id 'greet-first' (first at pack/{L1}:19)",
        f"pack/{L3}:27: range low 5 is above high 3",
        "pack/pack.yaml:3: 'version' must be text, found a number (put it in quotes)",
    ]
    assert result.stderr == "error: pack: 4 errors; nothing loaded\n"


def test_valid_pack_says_ok(cli):
    result = cli("packs", "validate", str(SAMPLE))
    assert result.exit_code == 0
    assert result.stdout == "ok: 3 lessons, 6 items\n"


def test_wrong_choice_without_feedback_is_only_a_warning(tmp_path: Path, cli):
    pack = copy_sample(tmp_path)
    edit(pack, L1, "      feedback: A sign is not a greeting.\n", "")
    result = cli("packs", "validate", "pack")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"pack/{L1}:27: warning: wrong choice of 'greet-first' has no feedback",
        "ok: 3 lessons, 6 items",
    ]


def test_word_count_ignores_markdown_punctuation():
    assert word_count("- *Greet* them — then **ask**.\n\n1. Listen\n2. Call 101") == 7


def test_short_item_with_a_lone_one_word_key_is_a_warning(tmp_path: Path, cli):
    pack = copy_sample(tmp_path)
    edit(pack, L2, "    - read it aloud\n    - read aloud\n", "    - aloud\n")
    result = cli("packs", "validate", "pack")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"pack/{L2}:27: warning: 'read-aloud' accepts only the one word 'aloud'; "
        "list the other answers a learner may fairly type",
        "ok: 3 lessons, 6 items",
    ]


def test_short_item_with_variants_or_a_longer_key_is_not_warned(tmp_path: Path, cli):
    pack = copy_sample(tmp_path)
    edit(pack, L2, "    - read it aloud\n    - read aloud\n", "    - read it aloud\n")
    result = cli("packs", "validate", "pack")
    assert result.stdout == "ok: 3 lessons, 6 items\n"
