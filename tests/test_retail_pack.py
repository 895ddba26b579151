"""The retail and hospitality pack: 20+ lessons, fair feedback, typed answers graded fairly."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from bot.coaching.grading import grade_text
from content import PackModel, read_pack, shipped_pack_path
from content.schema import MultipleItem, ShortItem, SingleItem, TrueFalseItem
from storage.models import Item

NAME = "service-retail-hospitality"
README_ROW = re.compile(
    r"^\| (\d+) \| (.+?) \| `([a-z0-9_-]+)` \| ([a-z0-9_-]+) \| ([A-E, ]+|Review gap): .+ \|$", re.M
)


@pytest.fixture(scope="module")
def pack() -> PackModel:
    """The retail and hospitality pack, read with the project's own reader."""
    folder = shipped_pack_path(NAME)
    assert folder is not None, f"{NAME} is not shipped"
    model, problems = read_pack(folder)
    assert [str(problem) for problem in problems] == []
    assert model is not None
    return model


def _items(pack: PackModel) -> list:
    """Every quiz item in sending order."""
    return [item for lesson in pack.lessons for item in lesson.items]


def _row(item: ShortItem) -> Item:
    """The stored form of a pack item, as the grader sees it."""
    row = Item(
        pack_id=NAME, lesson_id=1, key=item.id, type=item.type, prompt=item.prompt, explanation=""
    )
    row.data = item.data()
    return row


def test_twenty_or_more_lessons_each_with_one_to_three_items_and_a_named_topic(pack: PackModel):
    assert len(pack.lessons) >= 20
    assert [lesson.order for lesson in pack.lessons] == list(range(1, len(pack.lessons) + 1))
    for lesson in pack.lessons:
        assert 1 <= len(lesson.items) <= 3, lesson.id
        assert lesson.topic in pack.meta.topics, lesson.topic


def test_every_wrong_answer_explains_itself(pack: PackModel):
    for item in _items(pack):
        if isinstance(item, SingleItem | MultipleItem):
            wrong = [choice for choice in item.choices if not choice.correct]
            assert len(wrong) >= 2 and all(choice.feedback for choice in wrong), item.id
        if isinstance(item, TrueFalseItem):
            assert item.feedback_false if item.answer else item.feedback_true, item.id


def test_right_answers_follow_no_pattern(pack: PackModel):
    items = _items(pack)
    truths = Counter(item.answer for item in items if isinstance(item, TrueFalseItem))
    assert min(truths[True], truths[False]) >= truths.total() // 3, truths
    positions = Counter(
        next(index for index, choice in enumerate(item.choices) if choice.correct)
        for item in items
        if isinstance(item, SingleItem)
    )
    assert len(positions) == 4 and max(positions.values()) <= positions.total() // 3, positions


def test_every_listed_way_of_typing_an_answer_is_marked_right_and_others_wrong(pack: PackModel):
    shorts = [item for item in _items(pack) if isinstance(item, ShortItem)]
    assert len(shorts) >= 3
    for item in shorts:
        assert len(item.accepted) >= 3, item.id
        for typed in item.accepted:
            assert grade_text(_row(item), typed.capitalize() + ".").correct, (item.id, typed)
        others = [other.accepted[0] for other in shorts if other is not item]
        for typed in [*others, "I don't know"]:
            assert not grade_text(_row(item), typed).correct, (item.id, typed)


def test_the_readme_maps_every_lesson_to_the_article_idea_it_teaches(pack: PackModel):
    folder = shipped_pack_path(NAME)
    assert folder is not None
    readme = (folder / "README.md").read_text(encoding="utf-8")
    rows = [(int(n), title, id_, topic) for n, title, id_, topic, _ in README_ROW.findall(readme)]
    assert rows == [
        (lesson.order, lesson.title, lesson.id, lesson.topic) for lesson in pack.lessons
    ]
    assert f"{len(pack.lessons)} lessons" in readme and f"{pack.item_count} in all" in readme


def test_a_third_of_lessons_end_with_a_next_shift_commitment(pack: PackModel):
    commitments = [lesson.commitment for lesson in pack.lessons if lesson.commitment]
    assert len(commitments) * 3 >= len(pack.lessons)
    for commitment in commitments:
        assert commitment.try_.startswith(("Next shift", "Before your next shift")), commitment
        assert commitment.follow_up.rstrip().endswith("?"), commitment
