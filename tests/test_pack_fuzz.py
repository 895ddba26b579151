"""Whatever a lesson file holds, reading it gives problems, never an exception."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from content import read_pack
from tests.packs import L1, SAMPLE, copy_sample

SAMPLE_LINES = (SAMPLE / L1).read_text(encoding="utf-8").splitlines()
LINES = st.lists(
    st.sampled_from(SAMPLE_LINES) | st.text(max_size=40) | st.sampled_from(["---", "```", "  - "]),
    max_size=60,
)


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the sample pack whose first lesson each example overwrites."""
    return copy_sample(tmp_path_factory.mktemp("fuzz"))


@settings(max_examples=200, deadline=None)
@given(lines=LINES)
def test_any_lesson_text_is_read_without_raising(pack: Path, lines: list[str]):
    (pack / L1).write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    model, problems = read_pack(pack)
    assert (model is None) == any(not problem.warning for problem in problems)
    assert all("\n" not in str(problem) for problem in problems)


KEYS = st.sampled_from(
    [
        "id",
        "type",
        "prompt",
        "choices",
        "text",
        "correct",
        "feedback",
        "answer",
        "tolerance",
        "range",
        "unit",
        "accepted",
        "explanation",
        "feedback_true",
        "feedback_false",
    ]
)
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["single", "multiple", "true_false", "short", "numeric"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=30,
)


@settings(max_examples=100, deadline=None)
@given(items=st.lists(st.dictionaries(KEYS, VALUES, max_size=8), max_size=3))
def test_any_quiz_data_is_read_without_raising(pack: Path, items: list[dict]):
    head = (SAMPLE / L1).read_text(encoding="utf-8").split("```quiz")[0]
    quiz = yaml.safe_dump(items, allow_unicode=True)
    (pack / L1).write_text(f"{head}```quiz\n{quiz}```\n", encoding="utf-8")
    model, problems = read_pack(pack)
    assert (model is None) == any(not problem.warning for problem in problems)
