"""Whatever a pack holds, reading it gives problems, never an exception; `packs validate` and
`packs load` answer with `file:line: message` lines, and a refused load changes nothing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from content import read_pack
from tests.fuzz_support import fuzz_settings
from tests.packs import L1, L2, L3, SAMPLE, copy_sample, row_counts

SAMPLE_LINES = (SAMPLE / L1).read_text(encoding="utf-8").splitlines()
LINES = st.lists(
    st.sampled_from(SAMPLE_LINES) | st.text(max_size=40) | st.sampled_from(["---", "```", "  - "]),
    max_size=60,
)


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the sample pack whose first lesson each example overwrites."""
    return copy_sample(tmp_path_factory.mktemp("fuzz"))


@fuzz_settings(120)
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


@fuzz_settings(50)
@given(items=st.lists(st.dictionaries(KEYS, VALUES, max_size=8), max_size=3))
def test_any_quiz_data_is_read_without_raising(pack: Path, items: list[dict]):
    head = (SAMPLE / L1).read_text(encoding="utf-8").split("```quiz")[0]
    quiz = yaml.safe_dump(items, allow_unicode=True)
    (pack / L1).write_text(f"{head}```quiz\n{quiz}```\n", encoding="utf-8")
    model, problems = read_pack(pack)
    assert (model is None) == any(not problem.warning for problem in problems)


SINGLE = Path(__file__).parent / "packs" / "single-file.yaml"
FILES = ("pack.yaml", L1, L2, L3)
SOURCE_LINES = {name: (SAMPLE / name).read_text(encoding="utf-8").split("\n") for name in FILES}
NASTY = [  # YAML escapes and values that survive parsing but not every later step
    'title: "\\0"',
    'title: "\\ud800"',
    'prompt: "a\\x85b\\u2028c"',
    '  - text: "\\x00"',
    "order: 99999999999999999999",
    "order: -3",
    "order: 1.5",
    "order: true",
    "id: Upper Case",
    'id: "x:y"',
    "answer: .nan",
    "tolerance: .inf",
    "range: [1e308, -1e308]",
    "range: []",
    "accepted: [[1, 2]]",
    "choices: {a: 1}",
    "topics: [a, b]",
    "topics: {a: '\\0'}",
    'version: "\\t"',
    "version: 1.0",
    "type: numeric",
    "type: short",
    "- 1",
    "? [a]\n: b",
    "!!python/object:os.system",
    "---",
    "...",
    "```",
    "```quiz",
    "```commitment",
    "```reflection",
    "~~~",
    "try: x",
    "follow_up: y",
]
NEW_LINE = (
    st.sampled_from([line for lines in SOURCE_LINES.values() for line in lines])
    | st.sampled_from(NASTY)
    | st.text(max_size=30)
)
EDIT = st.tuples(st.integers(0, 80), st.sampled_from(["replace", "insert", "delete"]), NEW_LINE)
PROBLEM = re.compile(r"(?P<path>[^:]+?)(?::(?P<line>\d+))?: (?:warning: )?\S.*")


def _edited(lines: list[str], edits: list[tuple[int, str, str]]) -> str:
    """The lines with each edit applied at its index (wrapped round the file)."""
    lines = list(lines)
    for index, how, new in edits:
        at = index % (len(lines) + 1)
        if how == "insert" or at == len(lines):
            lines.insert(at, new)
        elif how == "replace":
            lines[at] = new
        else:
            del lines[at]
    return "\n".join(lines)


def _validated_then_loaded(cli, database_url: str, given: str, shown: str) -> None:
    """`packs validate` then `packs load`: clear lines, no traceback, a refusal changes nothing."""
    checked = cli("packs", "validate", given)  # an exception would fail the test here
    assert checked.exit_code in (0, 1)
    for line in checked.stdout.splitlines()[: -1 if checked.exit_code == 0 else None]:
        match = PROBLEM.fullmatch(line)
        assert match and match["path"].startswith(shown), line
    if checked.exit_code == 1:
        assert checked.stderr.startswith(f"error: {given}: ")
        assert len(checked.stderr.splitlines()) == 1
    before = row_counts(database_url)
    loaded = cli("packs", "load", given)
    assert "Traceback" not in loaded.stdout + loaded.stderr
    assert loaded.exit_code == checked.exit_code, loaded.stderr
    if loaded.exit_code == 1:
        assert row_counts(database_url) == before


@fuzz_settings(30)
@given(edits=st.dictionaries(st.sampled_from(FILES), st.lists(EDIT, max_size=3), max_size=2))
@example(edits={L1: [(1, "replace", 'id: "\\0"')]})
@example(edits={L1: [(2, "replace", 'title: "\\ud800"')]})
@example(edits={"pack.yaml": [(1, "replace", 'title: "\\0"')]})
@example(edits={L1: [(4, "replace", "order: 99999999999999999999")]})
def test_any_edited_pack_folder_is_loaded_or_refused_in_clear_lines_changing_nothing(
    cli, database_url: str, tmp_path: Path, edits: dict[str, list[tuple[int, str, str]]]
):
    pack = tmp_path / "pack"
    shutil.rmtree(pack, ignore_errors=True)
    copy_sample(tmp_path)
    for name, changes in edits.items():
        (pack / name).write_text(
            _edited(SOURCE_LINES[name], changes), encoding="utf-8", errors="surrogatepass"
        )
    _validated_then_loaded(cli, database_url, "pack", "pack")


SINGLE_LINES = SINGLE.read_text(encoding="utf-8").split("\n")


@fuzz_settings(25)
@given(edits=st.lists(EDIT, max_size=4))
@example(edits=[(9, "replace", '    title: "\\0"')])
def test_any_edited_single_file_pack_is_loaded_or_refused_in_clear_lines_changing_nothing(
    cli, database_url: str, tmp_path: Path, edits: list[tuple[int, str, str]]
):
    (tmp_path / "one.yaml").write_text(
        _edited(SINGLE_LINES, edits), encoding="utf-8", errors="surrogatepass"
    )
    _validated_then_loaded(cli, database_url, "one.yaml", "one.yaml")
