"""Spaced review with FSRS: one card per learner and item, day-based, no fuzzing.

The scheduler has no learning steps, so a missed item comes back the next day
and a known one days later (DESIGN.md, LIBRARY-NOTES.md). The card is stored
as `Card.to_dict()` in `ReviewState.card`; `ReviewState.due` mirrors its due
time so the planner can query it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, cast
from zoneinfo import ZoneInfo

from fsrs import Card, Rating, Scheduler
from fsrs.card import CardDict
from sqlalchemy import bindparam
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.coaching.policy import TeamPolicy
from storage.db import insert_for, run_core
from storage.models import ReviewState


def scheduler_for(policy: TeamPolicy) -> Scheduler:
    """A day-based FSRS scheduler with the team's desired retention."""
    return _scheduler(policy.desired_retention)


@lru_cache(maxsize=16)
def _scheduler(desired_retention: float) -> Scheduler:
    """One scheduler per retention: building one per answer cost more than the review."""
    return Scheduler(
        desired_retention=desired_retention,
        learning_steps=(),
        relearning_steps=(),
        enable_fuzzing=False,
    )


def due_by(day: date, timezone: str) -> datetime:
    """The end of local date `day`: an item is due that day if its `due` is before this.

    FSRS puts `due` at the answer's time of day plus the interval, so an item
    answered at 09:20 is due at 09:20 some later day; it belongs to that whole
    local date, including a plan made at 09:00.
    """
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=ZoneInfo(timezone))


def rating_for(*, correct: bool, late: bool) -> Rating:
    """Wrong → Again, right → Good, right but late → Hard."""
    if not correct:
        return Rating.Again
    return Rating.Hard if late else Rating.Good


def _utc(moment: datetime) -> datetime:
    """FSRS accepts only `datetime.timezone.utc` datetimes."""
    return moment.astimezone(UTC)


def card_of(state: ReviewState) -> Card:
    """The FSRS card stored in a review state."""
    return Card.from_dict(cast(CardDict, state.card))  # the JSON column holds a CardDict


def retrievability(policy: TeamPolicy, state: ReviewState, now: datetime) -> float:
    """R: the chance FSRS gives that the learner still recalls the item now."""
    return scheduler_for(policy).get_card_retrievability(card_of(state), _utc(now))


def reviewed(
    state: ReviewState | None,
    *,
    person_id: int,
    item_id: int,
    correct: bool,
    late: bool,
    now: datetime,
    policy: TeamPolicy,
) -> ReviewState:
    """The review state after one graded answer, as a new object outside any session.

    `state` (the learner's state for the item, None before their first answer)
    is left as it was.
    """
    card = card_of(state) if state else Card(card_id=item_id)
    card, _ = scheduler_for(policy).review_card(
        card, rating_for(correct=correct, late=late), _utc(now)
    )
    return ReviewState(
        person_id=person_id,
        item_id=item_id,
        card=dict(card.to_dict()),
        due=card.due,
        last_review=card.last_review,
        reviews=(state.reviews if state else 0) + 1,
        lapses=(state.lapses if state else 0) + (0 if correct else 1),
    )


_CHANGED = ("card", "due", "last_review", "reviews", "lapses")  # what an answer changes


@lru_cache(maxsize=2)
def _store_statement(dialect: str) -> Any:
    """The review state upsert for one dialect, built once (it runs as answers commit)."""
    statement = insert_for(dialect)(ReviewState).values(
        {name: bindparam(name) for name in ("person_id", "item_id", *_CHANGED)}
    )
    return statement.on_conflict_do_update(
        index_elements=["person_id", "item_id"],
        set_={name: statement.excluded[name] for name in _CHANGED},
    )


async def store_states(session: AsyncSession, states: Iterable[ReviewState]) -> None:
    """Write review states made by `reviewed`, new or not, in one statement."""
    rows = [
        {name: getattr(state, name) for name in ("person_id", "item_id", *_CHANGED)}
        for state in states
    ]
    if rows:
        dialect = session.get_bind().dialect.name
        await run_core(session, _store_statement(dialect), rows)


async def shift_reviews(session: AsyncSession, *, person_id: int, by: timedelta) -> int:
    """Move every card of a learner forward by `by` (a pause freezes intervals).

    Both the due time and the last review move, so the predicted recall on
    return equals the recall when the pause began. Returns the cards moved.
    """
    statement = (
        select(ReviewState)
        .where(ReviewState.person_id == person_id)
        .execution_options(populate_existing=True)  # answers store states past the session
    )
    states = (await session.exec(statement)).all()
    for state in states:
        card = card_of(state)
        card.due = card.due + by
        if card.last_review is not None:
            card.last_review = card.last_review + by
        state.card = dict(card.to_dict())
        state.due = card.due
        state.last_review = card.last_review
    return len(states)
