"""The starter pack `service-everyone`: valid, complete, fair to answer, and original."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bot.coaching.grading import grade_text
from content import PackModel, read_pack, shipped_pack_path
from content.schema import MultipleItem, NumericItem, ShortItem, SingleItem, TrueFalseItem
from content.validate import word_count
from storage.models import Item
from tests.packs import row_counts

NAME = "service-everyone"
SHARED = Path(__file__).resolve().parents[2] / "shared"
ITEM_TYPES = {"single", "multiple", "true_false", "short", "numeric"}
README_ROW = re.compile(r"^\| (\d+) \| (.+?) \| ([a-z0-9_-]+) \| (.+) \|$", re.MULTILINE)


def _folder() -> Path:
    """The shipped starter pack's folder."""
    folder = shipped_pack_path(NAME)
    assert folder is not None, f"{NAME} is not shipped"
    return folder


@pytest.fixture(scope="module")
def pack() -> PackModel:
    """The starter pack, read with the project's own reader; no errors and no warnings."""
    model, problems = read_pack(_folder())
    assert [str(problem) for problem in problems] == []
    assert model is not None
    return model


def _items(pack: PackModel) -> list:
    """Every quiz item in sending order."""
    return [item for lesson in pack.lessons for item in lesson.items]


def test_at_least_24_lessons_in_order_each_a_short_read_with_a_question(pack: PackModel):
    assert pack.meta.id == NAME
    assert len(pack.lessons) >= 24
    assert [lesson.order for lesson in pack.lessons] == list(range(1, len(pack.lessons) + 1))
    for lesson in pack.lessons:
        assert 60 <= word_count(lesson.body) <= 150, lesson.id
        assert lesson.items, lesson.id


def test_the_foundations_come_first_and_the_advising_lessons_last(pack: PackModel):
    topics = [lesson.topic for lesson in pack.lessons]
    assert topics[0] == "everyone-sells"
    first = {topic: topics.index(topic) for topic in topics}
    assert first["care-first"] < first["phone"] < first["writing"] < first["complaints"]
    assert first["complaints"] < first["bad-news"] < first["advising"] < first["offering-more"]


# Lessons on the articles' core (why service and honest selling matter, advising, offering
# more) against the practical checklist (phone, front desk, writing, handing on).
CORE_TOPICS = {"everyone-sells", "care-first", "advising", "offering-more"}
CHECKLIST_TOPICS = {"phone", "front-desk", "writing", "next-step"}


def test_the_articles_core_outweighs_the_checklist(pack: PackModel):
    topics = Counter(lesson.topic for lesson in pack.lessons)
    core = sum(topics[topic] for topic in CORE_TOPICS)
    checklist = sum(topics[topic] for topic in CHECKLIST_TOPICS)
    assert core > checklist, topics
    assert topics["phone"] <= 3, topics


def test_the_pack_teaches_pricing_income_reassurance_referral_and_abusive_calls(pack: PackModel):
    bodies = {lesson.id: lesson.body for lesson in pack.lessons}
    for lesson_id in (
        "income-and-competition",
        "reassurance-first",
        "price-without-apology",
        "referring-to-a-specialist",
        "ending-an-abusive-call",
    ):
        assert lesson_id in bodies, lesson_id
    assert "policy" in bodies["ending-an-abusive-call"]


def test_local_standards_are_taught_as_the_teams_own(pack: PackModel):
    """Three rings and next-day callbacks are a team's choice, never a universal rule."""
    texts = [(lesson.id, lesson.body) for lesson in pack.lessons]
    texts += [(item.id, f"{item.prompt} {item.explanation}") for item in _items(pack)]
    for key, text in texts:
        for standard in ("three rings", "next working day"):
            if standard in text.lower():
                assert re.search(r"your (own )?team", text, re.IGNORECASE), key


def test_typed_answers_are_decisions_not_slogans_to_complete(pack: PackModel):
    """No fill-in-the-blank prompt, and every typed answer is asked in a situation."""
    for item in _items(pack):
        if isinstance(item, ShortItem | NumericItem):
            assert "..." not in item.prompt and "…" not in item.prompt, item.id
            assert not item.prompt.lower().startswith(("finish", "complete")), item.id
            assert re.search(r"\b(you|your)\b", item.prompt, re.IGNORECASE), item.id


def test_every_item_type_is_used_several_times(pack: PackModel):
    counts = Counter(item.type for item in _items(pack))
    assert set(counts) == ITEM_TYPES
    assert min(counts.values()) >= 3, counts


def test_every_item_explains_and_every_wrong_answer_gets_feedback(pack: PackModel):
    for item in _items(pack):
        assert item.explanation.strip(), item.id
        if isinstance(item, SingleItem | MultipleItem):
            wrong = [choice for choice in item.choices if not choice.correct]
            assert wrong, f"{item.id} has no distractor"
            assert all(choice.feedback for choice in wrong), item.id
        if isinstance(item, TrueFalseItem):
            wrong_pick = item.feedback_false if item.answer else item.feedback_true
            assert wrong_pick, item.id


def test_right_answers_cannot_be_guessed_from_a_pattern(pack: PackModel):
    items = _items(pack)
    truths = Counter(item.answer for item in items if isinstance(item, TrueFalseItem))
    assert min(truths[True], truths[False]) >= sum(truths.values()) // 3, truths
    positions = Counter(
        next(index for index, choice in enumerate(item.choices) if choice.correct)
        for item in items
        if isinstance(item, SingleItem)
    )
    assert len(positions) >= 3 and max(positions.values()) <= positions.total() // 2, positions


def test_typed_answers_are_short_and_the_right_one_is_marked_right(pack: PackModel):
    for item in _items(pack):
        if not isinstance(item, ShortItem | NumericItem):
            continue
        row = Item(
            pack_id=NAME, lesson_id=1, key=item.id, type=item.type, prompt="", explanation=""
        )
        row.data = item.data()
        if isinstance(item, ShortItem):
            assert len(item.accepted[0].split()) <= 2, item.id
            typed = item.accepted[0].upper() + "."
        else:
            target = item.answer if item.answer is not None else item.range[0]
            typed = f"{target:g} {item.unit or ''}"
        assert grade_text(row, typed).correct, item.id
        assert not grade_text(row, "999").correct, item.id


def test_at_least_ten_reflections_ask_staff_about_their_own_work(pack: PackModel):
    prompts = [lesson.reflection for lesson in pack.lessons if lesson.reflection]
    assert len(prompts) >= 10
    assert sum(prompt.startswith("Think of") for prompt in prompts) >= 10


def test_a_third_of_lessons_end_with_something_to_try_next_shift(pack: PackModel):
    commitments = [lesson.commitment for lesson in pack.lessons if lesson.commitment]
    assert 3 * len(commitments) >= len(pack.lessons), len(commitments)
    for commitment in commitments:
        assert commitment.try_.startswith("Next shift"), commitment.try_
        assert commitment.follow_up.startswith("You planned to "), commitment.follow_up
        assert commitment.follow_up.rstrip().endswith("?"), commitment.follow_up


def test_the_readme_maps_every_lesson_to_an_article_idea(pack: PackModel):
    readme = (_folder() / "README.md").read_text(encoding="utf-8")
    rows = README_ROW.findall(readme)
    assert [(int(n), title, topic) for n, title, topic, _ in rows] == [
        (lesson.order, lesson.title, lesson.topic) for lesson in pack.lessons
    ]
    assert all(idea.strip() for *_, idea in rows)
    reflections = sum(1 for lesson in pack.lessons if lesson.reflection)
    commitments = sum(1 for lesson in pack.lessons if lesson.commitment)
    for count in (
        f"{len(pack.lessons)} lessons",
        f"{pack.item_count} in all",
        f"**{reflections} lessons** end with a reflection",
        f"**{commitments} lessons** end with a commitment",
    ):
        assert count in readme, count


def test_validate_and_load_by_name(cli, database_url: str, database, pack: PackModel):
    result = cli("packs", "validate", NAME)
    assert result.exit_code == 0
    assert result.stdout.strip() == f"ok: {len(pack.lessons)} lessons, {pack.item_count} items"
    result = cli("packs", "load", NAME)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == f"loaded {NAME} {pack.meta.version}"
    counts = row_counts(database_url)
    assert (counts["pack"], counts["lesson"], counts["item"]) == (
        1,
        len(pack.lessons),
        pack.item_count,
    )


def test_no_sentence_is_copied_from_the_seed_articles():
    tool = SHARED / "tools" / "check_originality.py"
    if not tool.is_file():
        pytest.skip("the shared seed articles are not available here")
    packs = _folder().parent
    result = subprocess.run(
        [sys.executable, str(tool), str(packs), str(SHARED / "seeds")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
