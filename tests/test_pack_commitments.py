"""A lesson may end with a commitment: the action to try and the question asked later."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from content import read_pack
from tests.packs import L3, SAMPLE, copy_sample, edit

END = "  explanation: Round up; delivering early feels like good service.\n```\n"
TRY = "try: Next shift, give one caller an honest time and keep it.\n"
FOLLOW_UP = "follow_up: Did you give someone an honest time? How did they take it?\n"
BLOCK = f"\n```commitment\n{TRY}{FOLLOW_UP}```\n"

# (the commitment block written, the problem expected at its line of lessons/03-numbers.md)
CASES = {
    "unknown key": (
        f"\n```commitment\ntri: Next shift, do it.\n{FOLLOW_UP}```\n",
        "33: unknown key 'tri' (did you mean 'try'?)",
    ),
    "missing follow-up": (
        f"\n```commitment\n{TRY}```\n",
        "33: missing required key 'follow_up'",
    ),
    "try over 300 characters": (
        f"\n```commitment\ntry: {'x' * 301}\n{FOLLOW_UP}```\n",
        "33: the commitment's 'try' is 301 characters; the limit is 300",
    ),
    "follow-up over 500 characters": (
        f"\n```commitment\n{TRY}follow_up: {'x' * 501}\n```\n",
        "34: the commitment's 'follow_up' is 501 characters; the limit is 500",
    ),
    "empty try": (
        f"\n```commitment\ntry: ''\n{FOLLOW_UP}```\n",
        "33: the commitment's 'try' is empty",
    ),
    "try that is not text": (
        f"\n```commitment\ntry: [a, b]\n{FOLLOW_UP}```\n",
        "33: 'try' must be text, found a list",
    ),
    "a list instead of a mapping": (
        "\n```commitment\n- Next shift, do it.\n```\n",
        "33: the commitment must be keys and values ('try:', 'follow_up:'), found a list",
    ),
    "empty block": (
        "\n```commitment\n```\n",
        "32: the commitment block is empty",
    ),
    "second block": (
        BLOCK + BLOCK,
        "37: a second ```commitment block; a lesson has one",
    ),
}


def test_a_lesson_ending_with_a_commitment_is_valid(tmp_path: Path):
    pack = copy_sample(tmp_path)
    edit(pack, L3, END, END + BLOCK)

    model, problems = read_pack(pack)

    assert problems == []
    assert model is not None
    commitment = model.lessons[2].commitment
    assert commitment is not None
    assert commitment.data() == {
        "try": "Next shift, give one caller an honest time and keep it.",
        "follow_up": "Did you give someone an honest time? How did they take it?",
    }
    assert model.lessons[0].commitment is None


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_each_commitment_problem_is_reported_at_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: tuple[str, str]
):
    block, expected = case
    monkeypatch.chdir(tmp_path)
    pack = copy_sample(tmp_path)
    edit(pack, L3, END, END + block)

    model, problems = read_pack(Path("pack"))

    assert model is None
    assert f"pack/{L3}:{expected}" in [str(problem) for problem in problems]


def test_validate_names_the_commitment_problem_by_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
):
    monkeypatch.chdir(tmp_path)
    pack = copy_sample(tmp_path)
    edit(pack, L3, END, END + CASES["unknown key"][0])

    result = cli("packs", "validate", "pack")

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"pack/{L3}:33: missing required key 'try'",
        f"pack/{L3}:33: unknown key 'tri' (did you mean 'try'?)",
    ]


SINGLE_REFLECTION = (
    "    reflection: Which bad-news message did you send last? What was its first sentence?\n"
)


def _single_file(tmp_path: Path, commitment: str) -> Path:
    """The single-file test pack with `commitment` lines after the first lesson's reflection."""
    path = Path(shutil.copy(SAMPLE.parent / "single-file.yaml", tmp_path / "one.yaml"))
    text = path.read_text(encoding="utf-8")
    assert text.count(SINGLE_REFLECTION) == 1
    path.write_text(text.replace(SINGLE_REFLECTION, SINGLE_REFLECTION + commitment))
    return path


def test_a_single_file_pack_holds_a_commitment_mapping(tmp_path: Path):
    path = _single_file(
        tmp_path,
        "    commitment:\n"
        "      try: Next time, put the decision in your first sentence.\n"
        "      follow_up: Did your last bad-news message open with the decision?\n",
    )

    model, problems = read_pack(path)

    assert problems == []
    assert model is not None
    commitment = model.lessons[0].commitment
    assert commitment is not None
    assert commitment.try_ == "Next time, put the decision in your first sentence."


def test_a_single_file_commitment_with_an_unknown_key_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    _single_file(
        tmp_path,
        "    commitment:\n"
        "      try: Next time, put the decision in your first sentence.\n"
        "      follow_up: Did your last bad-news message open with the decision?\n"
        "      when: tomorrow\n",
    )

    model, problems = read_pack(Path("one.yaml"))

    assert model is None
    assert [str(problem) for problem in problems] == ["one.yaml:34: unknown key 'when'"]


def test_a_commitment_that_makes_the_lesson_message_too_long_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    pack = copy_sample(tmp_path)
    edit(pack, L3, END, END + BLOCK)
    body = (pack / L3).read_text(encoding="utf-8").split("---\n")[2].split("\n\n```")[0]
    edit(pack, L3, body, "x" * 2850)  # one line: the commitment stays on lines 33-34

    model, problems = read_pack(Path("pack"))

    assert model is None
    together = 2850 + len("Next shift, give one caller an honest time and keep it.")
    expected = (
        f"pack/{L3}:26: the body and the commitment's 'try' are {together:,} characters "
        "together; the lesson message holds 2,900"
    )
    assert expected in [str(problem) for problem in problems]
