"""A pack written as one YAML file validates and loads like a folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from content import read_pack
from tests.packs import SAMPLE

SINGLE = SAMPLE.parent / "single-file.yaml"

CASES = {
    "short body": (
        "      skim the rest. End with a name and a way to reach you, so the message\n"
        "      opens a conversation instead of closing one.\n",
        "",
        "14: the body has 52 words; lessons have 60–150 words",
    ),
    "duplicate item id across lessons": (
        "      - id: goal-question",
        "      - id: decision-first",
        "43: duplicate item id 'decision-first' (first at one.yaml:21)",
    ),
    "missing quiz": (
        "    quiz:\n      - id: goal-question",
        "    notes:\n      - id: goal-question",
        "31: missing required key 'quiz'",
    ),
    "unknown lesson key": (
        "    reflection: Which",
        "    reflexion: Which",
        "30: unknown key 'reflexion' (did you mean 'reflection'?)",
    ),
    "body that is not text": (
        "    body: |\n      Bad news lands",
        "    body: [Bad news]\n    notes: |\n      Bad news lands",
        "13: 'body' must be text, found a list",
    ),
    "no lessons": (
        "lessons:\n  - id: bad-news",
        "lessons: []\nx:\n  - id: bad-news",
        "8: 'lessons' must be a list of lessons, found a list",
    ),
}


def test_single_file_pack_is_valid(cli, database):
    pack, problems = read_pack(SINGLE)
    assert problems == [] and pack is not None
    assert [lesson.id for lesson in pack.lessons] == ["bad-news", "advise"]
    assert pack.lessons[0].reflection.startswith("Which bad-news message")
    result = cli("packs", "load", str(SINGLE))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "loaded single-file 2.0"


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_problems_point_into_the_file(tmp_path: Path, case: tuple[str, str, str]):
    old, new, expected = case
    text = SINGLE.read_text(encoding="utf-8")
    assert text.count(old) == 1
    Path("one.yaml").write_text(text.replace(old, new), encoding="utf-8")
    pack, problems = read_pack(Path("one.yaml"))
    assert pack is None
    assert f"one.yaml:{expected}" in [str(problem) for problem in problems]


def test_pack_yaml_given_directly_means_its_folder(tmp_path: Path):
    shutil.copytree(SAMPLE, "pack")
    pack, problems = read_pack(Path("pack/pack.yaml"), shown="pack/pack.yaml")
    assert pack is not None and problems == []
    Path("pack/pack.yaml").write_text("id: x\n", encoding="utf-8")
    _, problems = read_pack(Path("pack/pack.yaml"), shown="pack/pack.yaml")
    assert str(problems[0]) == "pack/pack.yaml:1: missing required key 'title'"
