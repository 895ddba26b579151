"""Typed answers are graded as a fair person would: variants, filler, typos, ranges, near misses."""

from __future__ import annotations

from itertools import chain

import pytest
from sqlmodel import select

from bot.coaching.grading import feedback_message, grade_text, verdict
from bot.coaching.typed_answers import core_words
from bot.messages import Text
from content import read_pack, shipped_pack_names, shipped_pack_path
from content.schema import NumericItem, PackModel, ShortItem
from storage.models import Item, Response
from tests.factories import outbox
from tests.test_service_answers import setup


def short(*accepted: str, prompt: str = "?") -> Item:
    """An unsaved short-answer item accepting `accepted` (the first is the key)."""
    return Item(
        pack_id="p",
        lesson_id=1,
        key="k",
        type="short",
        prompt=prompt,
        explanation="Why.",
        data={"accepted": list(accepted)},
    )


def numeric(**data: object) -> Item:
    """An unsaved numeric item."""
    values = {"answer": None, "tolerance": 0.0, "range": None, "unit": None, **data}
    return Item(
        pack_id="p", lesson_id=1, key="k", type="numeric", prompt="?", explanation="", data=values
    )


def _shipped() -> list[PackModel]:
    """Every pack shipped in content/packs, read with the project's reader."""
    packs = []
    for name in shipped_pack_names():
        path = shipped_pack_path(name)
        assert path is not None
        pack, problems = read_pack(path)
        assert pack is not None, [str(problem) for problem in problems]
        packs.append(pack)
    return packs


def _row(item: ShortItem | NumericItem) -> Item:
    """The stored row of a pack item."""
    return Item(
        pack_id="p",
        lesson_id=1,
        key=item.id,
        type=item.type,
        prompt=item.prompt,
        explanation=item.explanation,
        data=item.data(),
    )


SHIPPED = _shipped()
TYPED = [
    (pack.meta.id, item)
    for pack in SHIPPED
    for lesson in pack.lessons
    for item in lesson.items
    if isinstance(item, ShortItem | NumericItem)
]
SHORT = [(pack, item) for pack, item in TYPED if isinstance(item, ShortItem)]
NUMERIC = [(pack, item) for pack, item in TYPED if isinstance(item, NumericItem)]


def _ids(pairs: list[tuple[str, ShortItem]] | list[tuple[str, NumericItem]]) -> list[str]:
    """Test ids: pack/item."""
    return [f"{pack}/{item.id}" for pack, item in pairs]


def test_the_shipped_packs_hold_typed_items_to_check():
    assert shipped_pack_names() and SHORT and NUMERIC


@pytest.mark.parametrize(("pack", "item"), SHORT, ids=_ids(SHORT))
def test_every_listed_variant_of_every_shipped_pack_grades_right(pack: str, item: ShortItem):
    row = _row(item)
    for variant in item.accepted:
        for typed in (variant, variant.upper() + ".", f"  {variant}!  ", f"The {variant}"):
            assert grade_text(row, typed).correct, (pack, item.id, typed)


@pytest.mark.parametrize(("pack", "item"), SHORT, ids=_ids(SHORT))
def test_a_sample_of_wrong_answers_grades_wrong_on_every_shipped_short_item(
    pack: str, item: ShortItem
):
    row = _row(item)
    mine = {" ".join(core_words(option)) for option in item.accepted}
    others = {  # the keys of the pack's other short items, where they differ from this one's
        other.accepted[0]
        for other_pack, other in SHORT
        if other_pack == pack
        and not mine & {" ".join(core_words(option)) for option in other.accepted}
    }
    for typed in chain(("999", "no idea", "nothing"), sorted(others)):
        assert not grade_text(row, typed).correct, (pack, item.id, typed)


@pytest.mark.parametrize(("pack", "item"), NUMERIC, ids=_ids(NUMERIC))
def test_every_shipped_numeric_item_takes_its_range_and_refuses_outside_it(
    pack: str, item: NumericItem
):
    row = _row(item)
    if item.range is not None:
        low, high = item.range
        inside, outside = [low, (low + high) / 2, high], [low - 1, high + 1]
    else:
        assert item.answer is not None
        inside = [item.answer - item.tolerance, item.answer, item.answer + item.tolerance]
        outside = [item.answer - item.tolerance - 1, item.answer + item.tolerance + 1]
    unit = f" {item.unit}" if item.unit else ""
    for value in inside:
        assert grade_text(row, f"{value:g}{unit}").correct, (pack, item.id, value)
        assert grade_text(row, f"{value:g}").correct, (pack, item.id, value)
    for value in outside:
        assert not grade_text(row, f"{value:g}{unit}").correct, (pack, item.id, value)


ISSUE_EXAMPLES = {
    "article before the key": (("phone number", "contact number"), "a phone number", ""),
    "a shorter greeting": (("how can I help you", "how may I help"), "how can I help", ""),
    "a pronoun after the action": (("re-record", "record it again"), "re-record it", ""),
    "article before a variant": (("reference", "reference number"), "a reference number", ""),
    "the question's own word echoed": (
        ("first", "the first", "opening"),
        "the first paragraph",
        "In which paragraph of a refusal letter should the decision appear?",
    ),
    "filler before and after": (("start", "begin"), "I would just say start, please", ""),
    "a small typo": (("reference number", "reference"), "refrence numbr", ""),
    "letters swapped": (("re-record", "record again"), "re-recrod", ""),
}


@pytest.mark.parametrize("case", ISSUE_EXAMPLES.values(), ids=list(ISSUE_EXAMPLES))
def test_answers_a_fair_person_accepts_are_right(case: tuple[tuple[str, ...], str, str]):
    accepted, typed, prompt = case
    assert grade_text(short(*accepted, prompt=prompt), typed).correct


WRONG = {
    "a different word": (("start", "begin"), "stop"),
    "a short key takes no typo": (("use",), "us"),
    "a negation is not echo": (("first",), "not first"),
    "another answer entirely": (("reference number",), "case notes"),
    "the words in another order": (("next steps",), "steps next"),
}


@pytest.mark.parametrize("case", WRONG.values(), ids=list(WRONG))
def test_answers_that_say_something_else_are_wrong(case: tuple[tuple[str, ...], str]):
    accepted, typed = case
    assert not grade_text(short(*accepted, prompt="Which paragraph?"), typed).correct


def test_a_near_miss_is_wrong_but_told_it_was_close_and_given_the_word():
    grade = grade_text(short("reference", "reference number"), "ref")

    assert not grade.correct and grade.close
    assert verdict(grade) == "🤏 *Close:* the word we were after is *reference*"
    assert "Not quite" not in feedback_message(short("reference"), grade).text


def test_a_far_miss_is_a_plain_not_quite():
    grade = grade_text(short("reference"), "a hug")

    assert not grade.correct and not grade.close
    assert verdict(grade) == "❌ *Not quite.* The answer: *reference*"


async def test_a_near_miss_is_recorded_as_wrong_and_the_learner_reads_close(database):
    _, service, ada, prompts = await setup(database, "short")
    await service.handle(Text("console:ada", "e1", "steps"))
    async with database.sessions() as session:
        response = (await session.exec(select(Response))).one()
        feedback = (await outbox(session, ada))[f"feedback:{prompts['short'].id}"]
    assert not response.correct
    assert feedback.startswith("🤏 *Close:* the answer we were after is *next steps*")


@pytest.mark.parametrize(
    ("typed", "unit", "data"),
    [
        ("2", "rings", {"range": [1, 3]}),
        ("two", "rings", {"range": [1, 3]}),
        ("Two rings.", "rings", {"range": [1, 3]}),
        ("within three", "rings", {"range": [1, 3]}),
        ("24 hours", "working days", {"answer": 1.0}),
        ("one working day", "working days", {"answer": 1.0}),
        ("48 hours", "days", {"answer": 2.0}),
        ("twenty", "words", {"range": [15, 20]}),
    ],
)
def test_numbers_in_words_digits_and_time_units_grade_right(typed, unit, data):
    assert grade_text(numeric(unit=unit, **data), typed).correct


@pytest.mark.parametrize(
    ("typed", "unit", "data"),
    [
        ("four", "rings", {"range": [1, 3]}),
        ("3 days", "working days", {"answer": 1.0}),
        ("25", "words", {"range": [15, 20]}),
        ("2 weeks", "days", {"answer": 2.0}),
    ],
)
def test_numbers_outside_the_answer_grade_wrong(typed, unit, data):
    assert not grade_text(numeric(unit=unit, **data), typed).correct


def test_a_range_is_shown_as_the_right_answer():
    grade = grade_text(numeric(unit="rings", range=[1, 3]), "five")
    assert verdict(grade) == "❌ *Not quite.* The answer: *1–3 rings*"
