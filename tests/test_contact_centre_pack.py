"""The contact-centre pack `service-contact-centre`: valid, complete, fair to answer, documented."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from content import PackModel
from content.schema import MultipleItem, SingleItem, TrueFalseItem
from content.validate import word_count
from tests.packs import check_validate_and_load, quiz_items, read_shipped, shipped_folder

NAME = "service-contact-centre"
README_ROW = re.compile(r"^\| (\d+) \| (.+?) \| ([a-z0-9_-]+) \| (.+) \|$", re.MULTILINE)
RECALL_IDS = re.compile(r"`([a-z0-9-]+)`")
_TYPE_NAMES = {
    "single": "single choice",
    "multiple": "multiple choice",
    "true_false": "true or false",
    "short": "short typed answer",
    "numeric": "number",
}


@pytest.fixture(scope="module")
def pack() -> PackModel:
    """The pack, read with the project's own reader; no errors and no warnings."""
    return read_shipped(NAME)


def test_at_least_twenty_lessons_each_a_short_read_with_one_to_three_questions(pack: PackModel):
    assert pack.meta.id == NAME and pack.meta.version == "1.0"
    assert len(pack.lessons) >= 20
    assert [lesson.order for lesson in pack.lessons] == list(range(1, len(pack.lessons) + 1))
    for lesson in pack.lessons:
        assert 60 <= word_count(lesson.body) <= 150, lesson.id
        assert 1 <= len(lesson.items) <= 3, lesson.id
    assert {lesson.topic for lesson in pack.lessons} <= set(pack.meta.topics)


def test_every_wrong_answer_explains_itself(pack: PackModel):
    for item in quiz_items(pack):
        assert item.explanation.strip(), item.id
        if isinstance(item, SingleItem | MultipleItem):
            wrong = [choice for choice in item.choices if not choice.correct]
            assert wrong and all(choice.feedback for choice in wrong), item.id
        if isinstance(item, TrueFalseItem):
            assert item.feedback_false if item.answer else item.feedback_true, item.id


def test_item_types_are_mixed_and_right_answers_follow_no_pattern(pack: PackModel):
    items = quiz_items(pack)
    assert {"single", "multiple", "true_false", "short"} <= {item.type for item in items}
    truths = Counter(item.answer for item in items if isinstance(item, TrueFalseItem))
    assert min(truths[True], truths[False]) >= truths.total() // 3, truths
    positions = Counter(
        [choice.correct for choice in item.choices].index(True)
        for item in items
        if isinstance(item, SingleItem)
    )
    assert len(positions) >= 3 and max(positions.values()) <= positions.total() // 2, positions


def test_a_third_of_lessons_end_with_a_commitment_and_most_others_with_a_reflection(
    pack: PackModel,
):
    commitments = [lesson.commitment for lesson in pack.lessons if lesson.commitment]
    assert 3 * len(commitments) >= len(pack.lessons)
    assert all(commitment.try_.startswith("Next shift, try") for commitment in commitments)
    reflections = sum(1 for lesson in pack.lessons if lesson.reflection)
    assert reflections + len(commitments) == len(pack.lessons)


def test_local_standards_are_the_teams_and_abuse_follows_the_organisations_policy(pack: PackModel):
    lesson = next(lesson for lesson in pack.lessons if lesson.id == "when-a-contact-turns-abusive")
    assert "policy" in lesson.body
    local = {"opening-a-call", "callbacks-you-can-keep", "answer-first-in-email"}
    for lesson in pack.lessons:
        if lesson.id in local:
            assert "your team" in lesson.body.lower(), lesson.id


def test_the_readme_maps_every_lesson_to_an_idea_and_its_counts_are_true(pack: PackModel):
    readme = (shipped_folder(NAME) / "README.md").read_text(encoding="utf-8")
    rows = README_ROW.findall(readme)
    assert [(int(n), title, topic) for n, title, topic, _ in rows] == [
        (lesson.order, lesson.title, lesson.topic) for lesson in pack.lessons
    ]
    assert all(idea.strip() for *_, idea in rows)
    recall = RECALL_IDS.findall(readme.split("## Decisions, not recall")[1].split("|")[0])
    ids = {item.id for item in quiz_items(pack)}
    assert recall and set(recall) <= ids
    decisions = pack.item_count - len(recall)
    assert 3 * decisions >= 2 * pack.item_count
    commitments = sum(1 for lesson in pack.lessons if lesson.commitment)
    reflections = sum(1 for lesson in pack.lessons if lesson.reflection)
    for count in (
        f"**{len(pack.lessons)} lessons**",
        f"({pack.item_count} in all)",
        f"{decisions} of the {pack.item_count} questions",
        f"**{commitments} lessons** end with a commitment",
        f"**{reflections} lessons** end with a reflection",
    ):
        assert count in readme, count
    for kind, number in Counter(item.type for item in quiz_items(pack)).items():
        assert re.search(rf"^\| {_TYPE_NAMES[kind]}[^|]* \| {number} \|$", readme, re.M), kind


def test_validate_and_load_by_name(cli, database_url: str, database, pack: PackModel):
    check_validate_and_load(cli, database_url, pack)
