"""Answering a quiz or review prompt: first answer only, graded at once, FSRS updated.

A prompt stays answerable until a later day's lesson or quiz has been sent to
the learner; an answer after the prompt's local day is marked late (FSRS
Hard when right). Multiple-choice buttons toggle picks in the delivery's
stored `PromptState` until `done`; a submitted set (a poll answer, checkboxes)
is graded as it comes. The answered prompt is then edited to show the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, exists, func
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.coaching.grading import (
    DONE,
    TYPED_TYPES,
    Grade,
    NotAnAnswer,
    feedback_message,
    grade_choices,
    grade_text,
    verdict,
)
from bot.coaching.people import local_today, split_address
from bot.coaching.review import reviewed
from bot.coaching.signals import answer_signal, raise_case, watches_answers
from bot.coaching.struggle import (
    NEW_ITEM_COUNTS,
    expected_for_new,
    expected_for_review,
    scored_evidence,
)
from bot.conversation.turn import Turn
from bot.messages import Outbound, OutboundKind
from bot.outbox.payload import PromptState, payload_for, prompt_state
from bot.outbox.queue import edit_row, message_rows
from bot.outbox.render import quiz_message
from storage.models import (
    LESSON_DAY_KINDS,
    PROMPT_KINDS,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Item,
    Person,
    Response,
    ReviewState,
    Team,
)

ALREADY_ANSWERED = "You already answered this one; the first answer is the one that counts."
CLOSED = "That question has closed, since a newer lesson has arrived; it may come back in a review."
GONE = "That question is no longer available."
PICK_FIRST = "Pick at least one option, then press Done."
FOREIGN_BUTTON = "That button does not belong to this question."


def latest_day(person_id: int) -> Any:
    """The local date of the newest day-kind delivery sent to the learner (a subquery)."""
    return (
        select(func.max(Delivery.local_date))
        .where(
            Delivery.person_id == person_id,
            col(Delivery.kind).in_(LESSON_DAY_KINDS),
            Delivery.status == DeliveryStatus.SENT,
        )
        .scalar_subquery()
    )


async def open_typed_prompt(session: AsyncSession, *, person_id: int) -> Delivery | None:
    """The learner's first sent, unanswered, still open short or numeric prompt.

    Only the newest day's prompts are open. Oldest first: with two typed
    questions on one day, answers come in the order the questions were asked.
    """
    statement = (
        select(Delivery)
        .join(Item, col(Item.id) == Delivery.item_id)
        .outerjoin(Response, col(Response.delivery_id) == Delivery.id)
        .where(
            Delivery.person_id == person_id,
            col(Delivery.kind).in_(PROMPT_KINDS),
            Delivery.status == DeliveryStatus.SENT,
            col(Item.type).in_(TYPED_TYPES),
            col(Response.id).is_(None),
            col(Delivery.refers_to).is_(None),  # a copy (`today`) is answered as the first
            Delivery.local_date == latest_day(person_id),
        )
        .order_by(col(Delivery.sent_at), col(Delivery.id))
        .limit(1)
    )
    return (await session.exec(statement)).first()


async def _record(turn: Turn, delivery: Delivery, prompt: _Prompt, grade: Grade) -> None:
    """Grade the answer against its expectation, update FSRS, queue the feedback, check signals.

    The answer's rows are kept in the unit of work, to be written with the
    transaction's others; the struggle evidence comes from the unit of work when
    it was read ahead, else it is read here, before this answer, and the answer
    added to it.
    """
    session, person, now, work = turn.session, turn.person, turn.now, turn.work
    item = prompt.item
    state = work.review_states.get((person.id, item.id), prompt.state)  # answered in this batch
    late = delivery.local_date is not None and delivery.local_date < local_today(person, now)
    review = delivery.kind == DeliveryKind.REVIEW
    if review and state is not None:
        expectation = await expected_for_review(
            session, work.calibration, item=item, state=state, now=now, policy=turn.policy
        )
    else:
        expectation = expected_for_new(work.calibration, item=item, counts=prompt.counts)
    scored = work.graded(
        person=person, now=now, item_id=item.id, correct=grade.correct, expected=expectation.value
    )
    if scored is None and watches_answers(turn.policy):
        before = await scored_evidence(
            session, person=person, policy=turn.policy, now=now, item_id=item.id
        )
        scored = before.plus(correct=grade.correct, expected=expectation.value)
    answered = _answered(item, delivery, grade, review=review)
    work.add_answer(
        session,
        response={
            "person_id": person.id,
            "item_id": item.id,
            "delivery_id": delivery.id,
            "answer": grade.answer,
            "correct": grade.correct,
            "late": late,
            "review": review,
            "expected": expectation.value,
            "answered_at": now,
        },
        state=reviewed(
            state,
            person_id=person.id,
            item_id=item.id,
            correct=grade.correct,
            late=late,
            now=now,
            policy=turn.policy,
        ),
        deliveries=[
            *message_rows(
                person_id=person.id,
                key=f"feedback:{delivery.id}",
                kind=DeliveryKind.FEEDBACK,
                text=feedback_message(item, grade, late=late),
                now=now,
            ),
            *([edit_row(delivery, answered, why="answered", now=now)] if answered else []),
        ],
    )
    work.answered.add(delivery.id)
    work.calibration.count(expectation, correct=grade.correct)
    raised = answer_signal(item=item, correct=grade.correct, policy=turn.policy, scored=scored)
    if raised is not None:
        await work.write_rows(session)  # the case's evidence lists this answer
        await raise_case(
            session,
            person=person,
            raised=raised,
            policy=turn.policy,
            now=now,
            admin_addresses=turn.admin_addresses,
        )


def _answered(item: Item, delivery: Delivery, grade: Grade, *, review: bool) -> Outbound | None:
    """The prompt as it shows once answered, with the verdict; None if it was never sent."""
    if delivery.status != DeliveryStatus.SENT:
        return None
    question = quiz_message(item, review=review)
    return Outbound(kind=OutboundKind.QUIZ, sections=(*question.sections, (verdict(grade),)))


@dataclass(frozen=True, slots=True)
class _Prompt:
    """The item a prompt asks about, and the learner's review state for it (if graded before)."""

    item: Item
    state: ReviewState | None
    counts: tuple[int, int, int, int]  # the item's calibration counts (`NEW_ITEM_COUNTS`)


@dataclass(frozen=True, slots=True)
class PromptRow:
    """One prompt as loaded: answered already, closed, its item, review state, calibration."""

    delivery: Delivery  # held here: the session keeps loaded rows only while they are referenced
    answered: bool
    closed: bool
    item: Item | None
    state: ReviewState | None
    counts: tuple[int, int, int, int]


_LATER = aliased(Delivery)
_PROMPT_COLUMNS = (
    Delivery,
    exists().where(col(Response.delivery_id) == Delivery.id),
    exists().where(
        col(_LATER.person_id) == Delivery.person_id,
        col(_LATER.kind).in_(LESSON_DAY_KINDS),
        col(_LATER.status) == DeliveryStatus.SENT,
        col(_LATER.local_date) > Delivery.local_date,  # never true without a date
    ),
    Item,
    ReviewState,
    *NEW_ITEM_COUNTS,
)
_ITEM = col(Item.id) == Delivery.item_id
_STATE = and_(col(ReviewState.item_id) == Item.id, col(ReviewState.person_id) == Delivery.person_id)
_PROMPTS_STATE = (
    select(*_PROMPT_COLUMNS)  # type: ignore[call-overload]  # nine columns
    .outerjoin(Item, _ITEM)
    .outerjoin(ReviewState, _STATE)
)
# Built once: every button press and typed answer runs one of them.
_PROMPT_STATE = _PROMPTS_STATE.where(Delivery.id == bindparam("delivery_id"))
_SENDER_AND_PROMPT = (
    select(Person, Team, *_PROMPT_COLUMNS)  # type: ignore[call-overload]  # eleven columns
    .select_from(Person)
    .outerjoin(Team, col(Team.id) == Person.team_id)
    .outerjoin(
        Delivery,
        and_(col(Delivery.id) == bindparam("delivery_id"), col(Delivery.person_id) == Person.id),
    )
    .outerjoin(Item, _ITEM)
    .outerjoin(ReviewState, _STATE)
    .where(Person.platform == bindparam("platform"), Person.platform_id == bindparam("address"))
)


def _prompt_row(row: Any) -> PromptRow:
    """A row of `_PROMPT_STATE` as a `PromptRow`."""
    delivery, answered, closed, item, state, *counts = row
    return PromptRow(delivery, answered, closed, item, state, tuple(counts))


async def load_prompt(session: AsyncSession, delivery_id: int) -> PromptRow | None:
    """The delivery (into the session) with its prompt's state, in one query; None if unknown."""
    row = (await session.exec(_PROMPT_STATE, params={"delivery_id": delivery_id})).first()
    return _prompt_row(row) if row is not None else None


async def sender_and_prompt(
    session: AsyncSession, *, address: str, delivery_id: int
) -> tuple[Person | None, Team | None, PromptRow | None]:
    """The person at `address` with their team, and their prompt `delivery_id`, in one query.

    The prompt is None when the delivery is unknown or not theirs.
    """
    platform, platform_id = split_address(address)
    params = {"platform": platform, "address": platform_id, "delivery_id": delivery_id}
    row = (await session.exec(_SENDER_AND_PROMPT, params=params)).first()
    if row is None:
        return None, None, None
    person, team, delivery, *prompt = row
    return person, team, _prompt_row((delivery, *prompt)) if delivery is not None else None


async def load_prompts(session: AsyncSession, delivery_ids: list[int]) -> dict[int, PromptRow]:
    """`load_prompt` for several deliveries in one query, by delivery id; unknown ones left out."""
    statement = _PROMPTS_STATE.where(col(Delivery.id).in_(delivery_ids))
    rows = (await session.exec(statement)).all()
    return {prompt.delivery.id: prompt for prompt in map(_prompt_row, rows)}


async def _open_item(turn: Turn, delivery: Delivery, loaded: PromptRow | None) -> _Prompt | None:
    """The item a prompt asks about, when it can still be answered (the learner is told if not).

    One query (unless `loaded` or the unit of work holds it) asks whether the prompt was
    answered or has closed (a later day's lesson or prompt was sent), and loads
    its item with the learner's review state.
    """
    loaded = loaded or turn.work.prompts.get(delivery.id)
    row = loaded if loaded is not None and loaded.delivery is delivery else None
    row = row or await load_prompt(turn.session, delivery.id)
    if row is not None and (row.answered or delivery.id in turn.work.answered):
        turn.respond(ALREADY_ANSWERED)
    elif row is not None and row.closed:
        turn.respond(CLOSED)
    elif row is None or row.item is None:
        turn.respond(GONE)
    else:
        return _Prompt(row.item, row.state, row.counts)
    return None


def _picks(turn: Turn, delivery: Delivery, item: Item, choice_ids: tuple[str, ...]) -> list[str]:
    """The choices an answer submits; empty while multiple-choice picks are being toggled.

    One button on a multiple-choice item toggles that pick, and `done` submits
    the picks so far; several ids (a poll, checkboxes) are submitted as they are.
    """
    if item.type != "multiple":
        return [choice_id for choice_id in choice_ids if choice_id != DONE]
    stored = prompt_state(delivery).picked
    if len(choice_ids) == 1 and choice_ids[0] != DONE:
        state = PromptState(picked=tuple(sorted(set(stored) ^ {choice_ids[0]})))
        delivery.payload = payload_for(DeliveryKind(delivery.kind), state)
        return []
    submitted = choice_ids if choice_ids != (DONE,) else stored
    picks = [choice_id for choice_id in submitted if choice_id != DONE]
    if not picks:
        turn.respond(PICK_FIRST)
    return picks


async def answer_button(
    turn: Turn, delivery: Delivery, choice_ids: tuple[str, ...], *, loaded: PromptRow | None = None
) -> None:
    """Handle buttons (or a submitted set) on a quiz or review prompt."""
    prompt = await _open_item(turn, delivery, loaded)
    if prompt is None:
        return
    picks = _picks(turn, delivery, prompt.item, choice_ids)
    if not picks:
        return
    try:
        grade = grade_choices(prompt.item, picks)
    except NotAnAnswer:
        turn.respond(FOREIGN_BUTTON)
        return
    await _record(turn, delivery, prompt, grade)


async def answer_typed(turn: Turn, delivery: Delivery, text: str) -> None:
    """Handle typed text answering a short or numeric prompt."""
    prompt = await _open_item(turn, delivery, None)
    if prompt is None:
        return
    item = prompt.item
    if item.type not in TYPED_TYPES:
        turn.reply("Please answer this question with its buttons.")
        return
    try:
        grade = grade_text(item, text)
    except NotAnAnswer:
        turn.reply("This question wants a number: type it, e.g. `42`.")
        return
    await _record(turn, delivery, prompt, grade)
