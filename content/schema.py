"""The lesson-pack format as pydantic models (see PACK_FORMAT.md).

The models check shapes and types strictly (no "1" for 1, no unknown keys);
limits and cross-field rules live in `content.validate`, which knows the lines.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    """Strict types, unknown keys refused, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class PackMeta(_Strict):
    """The keys of `pack.yaml`."""

    id: str
    title: str
    version: str
    language: str
    audience: str
    description: str
    topics: dict[str, str] = Field(default_factory=dict)  # topic id → name people see


class LessonMeta(_Strict):
    """A lesson's front matter."""

    id: str
    title: str
    topic: str
    order: int


class Choice(_Strict):
    """One answer of a single- or multiple-choice item."""

    text: str
    correct: bool = False
    feedback: str | None = None


class _ItemBase(_Strict):
    """What every quiz item has."""

    id: str
    prompt: str
    explanation: str


class _ChoiceItem(_ItemBase):
    """An item answered by pressing choice buttons."""

    choices: list[Choice]

    def data(self) -> dict[str, Any]:
        """The `Item.data` column for this item."""
        return {"choices": [choice.model_dump() for choice in self.choices]}


class SingleItem(_ChoiceItem):
    """Exactly one choice is right."""

    type: Literal["single"]


class MultipleItem(_ChoiceItem):
    """The learner picks every right choice, then presses Done."""

    type: Literal["multiple"]


class TrueFalseItem(_ItemBase):
    """A statement that is true or false."""

    type: Literal["true_false"]
    answer: bool
    feedback_true: str | None = None
    feedback_false: str | None = None

    def data(self) -> dict[str, Any]:
        """The `Item.data` column for this item."""
        return {
            "answer": self.answer,
            "feedback_true": self.feedback_true,
            "feedback_false": self.feedback_false,
        }


class ShortItem(_ItemBase):
    """A typed answer matched against accepted answers."""

    type: Literal["short"]
    accepted: list[str]

    def data(self) -> dict[str, Any]:
        """The `Item.data` column for this item."""
        return {"accepted": list(self.accepted)}


class NumericItem(_ItemBase):
    """A typed number: `answer` within `tolerance`, or inside `range`."""

    type: Literal["numeric"]
    answer: float | None = None
    tolerance: float = 0.0
    range: list[float] | None = None
    unit: str | None = None

    def data(self) -> dict[str, Any]:
        """The `Item.data` column for this item."""
        return {
            "answer": self.answer,
            "tolerance": self.tolerance,
            "range": list(self.range) if self.range is not None else None,
            "unit": self.unit,
        }


ItemModel = Annotated[
    SingleItem | MultipleItem | TrueFalseItem | ShortItem | NumericItem,
    Field(discriminator="type"),
]
ITEM_TYPES: dict[str, type[_ItemBase]] = {
    "single": SingleItem,
    "multiple": MultipleItem,
    "true_false": TrueFalseItem,
    "short": ShortItem,
    "numeric": NumericItem,
}


class Commitment(_Strict):
    """What a lesson asks the learner to try, and the question asked a few working days later."""

    try_: str = Field(alias="try")
    follow_up: str

    def data(self) -> dict[str, str]:
        """The `Lesson.commitment` column for this commitment."""
        return {"try": self.try_, "follow_up": self.follow_up}


class LessonModel(_Strict):
    """A whole lesson: front matter, body, quiz items, optional reflection and commitment."""

    id: str
    title: str
    topic: str
    order: int
    body: str
    items: list[ItemModel]
    reflection: str | None = None
    commitment: Commitment | None = None
    source: str = Field(default="", exclude=True)  # where it was read from, for messages


class PackModel(_Strict):
    """A valid pack, ready to load."""

    meta: PackMeta
    lessons: list[LessonModel]

    @property
    def item_count(self) -> int:
        """How many quiz items the pack holds."""
        return sum(len(lesson.items) for lesson in self.lessons)
