"""The expectation-based struggle score of DESIGN.md step 6.

Each graded answer stores what was expected of it (`Response.expected`):

* a new lesson item: the share of the learner's team who got it right, shrunk
  towards the pack-wide share while few have answered,
  `(5·pack_share + team_correct) / (5 + team_answers)`; the pack-wide share
  (all answers to new items of the pack, every team) is itself shrunk towards
  0.75 the same way, `(5·0.75 + pack_correct) / (5 + pack_answers)`;
* a review item: `g + (1 − g)·R`, with R the recall FSRS predicts at the
  moment of answering and g the guessing floor (`grading.guess_floor`).

The score is Σ(correct − expected) over the last `struggle_window` graded
answers given after the learner's last resolved case, so answers a coach has
already dealt with never count again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    ScalarSelect,
    and_,
    bindparam,
    case,
    func,
)
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.coaching.grading import guess_floor
from bot.coaching.policy import TeamPolicy
from bot.coaching.review import retrievability
from storage.models import (
    Escalation,
    EscalationStatus,
    Item,
    Person,
    Response,
    ReviewState,
    Role,
)

PRIOR_WEIGHT = 5
PACK_SHARE_START = 0.75

_CORRECT = func.coalesce(func.sum(case((col(Response.correct), 1), else_=0)), 0)


def shrunk_share(*, correct: int, answers: int, prior: float) -> float:
    """`(5·prior + correct) / (5 + answers)`: a share that trusts few answers little."""
    return (PRIOR_WEIGHT * prior + correct) / (PRIOR_WEIGHT + answers)


_IN_TEAM = and_(
    col(Person.team_id) == bindparam("team_id"),  # never true without a team
    col(Response.item_id) == bindparam("item_id"),
)
_FIRST_ANSWERS = (  # built once: it runs after every answer to a new lesson item
    select(
        _CORRECT,
        func.count(col(Response.id)),
        func.coalesce(func.sum(case((and_(_IN_TEAM, col(Response.correct)), 1), else_=0)), 0),
        func.coalesce(func.sum(case((_IN_TEAM, 1), else_=0)), 0),
    )
    .join(Item, col(Item.id) == Response.item_id)
    .join(Person, col(Person.id) == Response.person_id)
    .where(Item.pack_id == bindparam("pack_id"), col(Response.review).is_(False))
)


async def expected_for_new(session: AsyncSession, *, item: Item, team_id: int | None) -> float:
    """The chance a learner of this team gets a new lesson item right.

    One query counts the pack's first answers and, among them, the team's on this item.
    """
    params = {"team_id": team_id, "item_id": item.id, "pack_id": item.pack_id}
    row = (await session.exec(_FIRST_ANSWERS, params=params)).one()
    pack_share = shrunk_share(correct=row[0], answers=row[1], prior=PACK_SHARE_START)
    if team_id is None:
        return pack_share
    return shrunk_share(correct=row[2], answers=row[3], prior=pack_share)


def expected_for_review(
    *, item: Item, state: ReviewState, now: datetime, policy: TeamPolicy
) -> float:
    """`g + (1 − g)·R` for a review of `item` at `now`."""
    floor = guess_floor(item)
    return floor + (1 - floor) * retrievability(policy, state, now)


def _last_resolved(person_id: int | BindParameter[int]) -> ScalarSelect[datetime | None]:
    """When the learner's latest case was resolved (a subquery); earlier answers no longer count."""
    return (
        select(func.max(Escalation.resolved_at))
        .where(Escalation.person_id == person_id, Escalation.status == EscalationStatus.RESOLVED)
        .scalar_subquery()
    )


def since_last_case(person_id: int | BindParameter[int]) -> ColumnElement[bool]:
    """True for the learner's answers given after their last resolved case (or ever, if none)."""
    resolved = _last_resolved(person_id)
    return or_(resolved.is_(None), col(Response.answered_at) > resolved)


_RECENT_ANSWERS = (  # built once: it runs after every answer
    select(Response)
    .where(Response.person_id == bindparam("person_id"), since_last_case(bindparam("person_id")))
    .order_by(col(Response.answered_at).desc(), col(Response.id).desc())
    .limit(bindparam("window"))
)


async def recent_answers(session: AsyncSession, *, person_id: int, window: int) -> list[Response]:
    """The learner's last `window` graded answers since their last resolved case, newest first."""
    params = {"person_id": person_id, "window": window}
    return list((await session.exec(_RECENT_ANSWERS, params=params)).all())


def score_of(answers: list[Response]) -> float:
    """Σ(correct − expected)."""
    return sum(int(answer.correct) - answer.expected for answer in answers)


async def struggle_score(
    session: AsyncSession, *, person_id: int, window: int
) -> tuple[float, list[Response]]:
    """The learner's struggle score and the answers since their last resolved case it is made of."""
    answers = await recent_answers(session, person_id=person_id, window=window)
    return score_of(answers), answers


async def team_scores(
    session: AsyncSession, *, team_id: int, window: int, min_answers: int
) -> dict[int, float]:
    """Struggle scores of the team's learners with `min_answers` answers since their last case."""
    resolved = (
        select(
            col(Escalation.person_id).label("person_id"),
            func.max(Escalation.resolved_at).label("resolved_at"),
        )
        .where(Escalation.status == EscalationStatus.RESOLVED)
        .group_by(col(Escalation.person_id))
        .subquery()
    )
    newest_first = (col(Response.answered_at).desc(), col(Response.id).desc())
    ranked = (
        select(
            col(Response.person_id).label("person_id"),
            case((col(Response.correct), 1.0), else_=0.0).label("correct"),
            col(Response.expected).label("expected"),
            func.row_number()
            .over(partition_by=col(Response.person_id), order_by=newest_first)
            .label("rank"),
        )
        .join(Person, col(Person.id) == Response.person_id)
        .outerjoin(resolved, resolved.c.person_id == Response.person_id)
        .where(
            Person.team_id == team_id,
            Person.role == Role.LEARNER,
            or_(resolved.c.resolved_at.is_(None), Response.answered_at > resolved.c.resolved_at),
        )
        .subquery()
    )
    rows = (
        await session.exec(
            select(
                ranked.c.person_id,
                func.sum(ranked.c.correct - ranked.c.expected),
                func.count(),
            )
            .where(ranked.c.rank <= window)
            .group_by(ranked.c.person_id)
        )
    ).all()
    return {person_id: float(score) for person_id, score, count in rows if count >= min_answers}


def in_bottom_share(scores: dict[int, float], person_id: int, share: float) -> bool:
    """True when fewer than `share` of the scored learners score lower than this one."""
    mine = scores[person_id]
    lower = sum(1 for score in scores.values() if score < mine)
    return lower < share * len(scores)
