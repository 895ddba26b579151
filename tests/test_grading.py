"""Grading rules for every item type."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.coaching.grading import (
    NotAnAnswer,
    feedback_message,
    grade_choices,
    grade_text,
    guess_floor,
)
from bot.coaching.typed_answers import normalise_text, read_number
from storage.models import Item
from tests.factories import ITEM_DATA


def item(kind, data=None):
    """An unsaved item of `kind` with the factory's data."""
    return Item(
        pack_id="p",
        lesson_id=1,
        key="k",
        type=kind,
        prompt="?",
        explanation="Why.",
        data=data or ITEM_DATA[kind],
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("about 3,5 rings", 3.5),
        ("1,500", 1500),
        ("1 500 €", 1500),
        ("1.234,5", 1234.5),
        ("1,234.5", 1234.5),
        ("-2", -2),
        ("−2.5%", -2.5),
    ],
)
def test_numbers_are_read_with_units_and_commas(text, value):
    assert read_number(text) == value


def test_text_without_a_number_is_not_an_answer():
    with pytest.raises(NotAnAnswer):
        grade_text(item("numeric"), "no idea")


def test_numeric_tolerance_and_range():
    assert grade_text(item("numeric"), "3.5").correct
    assert not grade_text(item("numeric"), "3.6").correct
    ranged = item("numeric", {"answer": None, "tolerance": 0, "range": [10, 20], "unit": "%"})
    assert grade_text(ranged, "15 %").correct
    assert not grade_text(ranged, "21").correct
    assert grade_text(ranged, "21").right_answer == "10–20 %"


def test_short_answers_ignore_case_punctuation_and_spacing():
    assert normalise_text("  Next   STEPS!! ") == "next steps"
    assert grade_text(item("short"), "Next-step.").correct
    assert not grade_text(item("short"), "steps next").correct


def test_single_choice_feedback_and_right_answer():
    grade = grade_choices(item("single"), ["c0"])
    assert not grade.correct
    assert grade.feedback == ("They may be lost.",)
    text = feedback_message(item("single"), grade).text
    assert text.startswith("❌") and "Say who you are putting them through to" in text
    assert "Why." in text


def test_multiple_choice_needs_exactly_the_right_set():
    assert grade_choices(item("multiple"), ["c2", "c0"]).correct
    assert not grade_choices(item("multiple"), ["c0"]).correct
    assert not grade_choices(item("multiple"), ["c0", "c1", "c2"]).correct


def test_true_false_feedback_follows_the_choice():
    grade = grade_choices(item("true_false"), ["false"])
    assert not grade.correct and grade.feedback == ("It is.",)


def test_unknown_choice_is_not_an_answer():
    with pytest.raises(NotAnAnswer):
        grade_choices(item("single"), ["c9"])


def test_guessing_floors():
    assert guess_floor(item("single")) == pytest.approx(1 / 3)
    assert guess_floor(item("true_false")) == 0.5
    assert guess_floor(item("multiple")) == pytest.approx(1 / 7)
    assert guess_floor(item("short")) == 0


@given(st.integers(min_value=-(10**6), max_value=10**6), st.integers(min_value=0, max_value=99))
def test_decimal_point_and_comma_read_the_same(whole, cents):
    text = f"{whole}.{cents:02d}"
    assert read_number(text) == read_number(text.replace(".", ",")) == float(text)
    assert read_number(f"about {text} euros") == float(text)
