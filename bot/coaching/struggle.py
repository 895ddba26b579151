"""The struggle z-score of DESIGN.md step 6 and docs/struggle.md.

Each graded answer stores what was expected of it (`Response.expected`),
calibrated on the pack's observed outcomes (`Calibration` counts, kept
incrementally and written in batches: `bot.coaching.calibration`):

* a new lesson item: the item's observed share correct, shrunk towards the
  pack-wide share, `(5·pack_share + item_correct) / (5 + item_answers)`; the
  pack-wide share is itself shrunk towards 0.75 the same way;
* a review item: FSRS's prediction `g + (1 − g)·R` (g the guessing floor),
  scaled by how the pack's reviews at the same tenth of R *and* after a
  similar interval (doubling bands of days since the item was last seen)
  actually went: `× (correct + 10·r) / (predicted + 10)`, where `r`, the
  ratio of the whole tenth, is the prior while the band has few reviews. A
  cohort that forgets faster than FSRS assumes, more so after long
  intervals, is not all flagged.

The evidence is then `z = Σ(correct − expected) / √Σ expected·(1 − expected)`
over the learner's answers in a rolling window of working days: near 0 for a
typical learner, about −2 or below only when the shortfall is larger than
chance explains. A case needs the shortfall beyond the team's margin to be
that unlikely: `(Σ(correct − expected) + margin·answers) / √Σ expected·(1 − expected)`
at or below the threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, bindparam, case, cast, func, literal
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.coaching.calendar import WorkCalendar, calendar_for, local_date
from bot.coaching.calibration import Expectation, PendingCounts
from bot.coaching.grading import guess_floor
from bot.coaching.policy import TeamPolicy
from bot.coaching.review import retrievability
from storage.models import (
    Calibration,
    Escalation,
    EscalationStatus,
    Item,
    Person,
    Response,
    ReviewState,
    Role,
    Team,
)

PRIOR_WEIGHT = 5
PACK_SHARE_START = 0.75
R_BUCKETS = 10
INTERVAL_BANDS = 8  # days since last seen: under 1, 1–2, 2–4, … 32–64, 64 or more
BUCKET_WEIGHT = 10.0  # predicted successes' worth of trust in the prior before outcomes count
CEILING = 0.99  # never expect certainty: one miss would weigh without limit
NEW_PREFIX = "item:"


def shrunk_share(*, correct: float, answers: float, prior: float) -> float:
    """`(5·prior + correct) / (5 + answers)`: a share that trusts few answers little."""
    return (PRIOR_WEIGHT * prior + correct) / (PRIOR_WEIGHT + answers)


def _new_item_sum(column: Any, *, this_item: bool) -> Any:
    """A sum over the calibration rows of new items in `Item`'s pack (or of `Item` itself)."""
    scope = col(Calibration.scope)
    statement = select(func.coalesce(func.sum(column), 0)).where(
        Calibration.pack_id == Item.pack_id, scope.startswith(NEW_PREFIX)
    )
    if this_item:
        statement = statement.where(scope == literal(NEW_PREFIX) + cast(Item.id, String))
    return statement.scalar_subquery()


# The counts `expected_for_new` needs, as columns of a query that selects `Item`: read with
# the item, they cost no query of their own.
NEW_ITEM_COUNTS = (
    _new_item_sum(Calibration.answers, this_item=False),
    _new_item_sum(Calibration.correct, this_item=False),
    _new_item_sum(Calibration.answers, this_item=True),
    _new_item_sum(Calibration.correct, this_item=True),
)


def expected_for_new(
    pending: PendingCounts, *, item: Item, counts: tuple[int, int, int, int]
) -> Expectation:
    """The chance a typical learner gets this new lesson item right.

    `counts` are the item's `NEW_ITEM_COUNTS`, read with the item; the answers
    of this transaction not yet written (`pending`) are added here.
    """
    scope = f"{NEW_PREFIX}{item.id}"
    pack_answers, pack_correct, answers, correct = counts
    for (pack_id, counted_scope), added in pending.unwritten():
        if pack_id == item.pack_id and counted_scope.startswith(NEW_PREFIX):
            pack_answers += added.answers
            pack_correct += added.correct
            if counted_scope == scope:
                answers, correct = answers + added.answers, correct + added.correct
    pack_share = shrunk_share(correct=pack_correct, answers=pack_answers, prior=PACK_SHARE_START)
    value = shrunk_share(correct=correct, answers=answers, prior=pack_share)
    return Expectation(min(value, CEILING), item.pack_id, scope, 0.0)


def shrunk_ratio(*, correct: float, predicted: float, prior: float = 1.0) -> float:
    """Observed over predicted successes, trusting `prior` as much as 10 predicted successes."""
    return (correct + BUCKET_WEIGHT * prior) / (predicted + BUCKET_WEIGHT)


def recalibrated(predicted: float, *, ratio: float, floor: float) -> float:
    """FSRS's prediction scaled by its calibration ratio, within [g, 0.99]."""
    return min(max(predicted * ratio, floor), CEILING)


def interval_band(days: float) -> int:
    """Doubling bands of the days since an item was last seen: 0 under a day, 1 for 1–2, …"""
    if days < 1:
        return 0
    return min(int(math.log2(days)) + 1, INTERVAL_BANDS - 1)


def review_scope(*, recall: float, days: float) -> tuple[str, str]:
    """The calibration row of a review: its tenth of R and interval band; and the tenth's own."""
    tenth = f"review:{min(int(recall * R_BUCKETS), R_BUCKETS - 1)}"
    return f"{tenth}:{interval_band(days)}", tenth


def _in_tenth(scope: str, tenth: str) -> bool:
    """Whether a calibration row counts towards `tenth` (its own row or one of its bands)."""
    return scope == tenth or scope.startswith(f"{tenth}:")


_TENTH = select(Calibration.scope, Calibration.correct, Calibration.predicted).where(  # built once
    Calibration.pack_id == bindparam("pack_id"),
    or_(Calibration.scope == bindparam("tenth"), col(Calibration.scope).like(bindparam("bands"))),
)


async def expected_for_review(
    session: AsyncSession,
    pending: PendingCounts,
    *,
    item: Item,
    state: ReviewState,
    now: datetime,
    policy: TeamPolicy,
) -> Expectation:
    """`g + (1 − g)·R` for a review of `item` at `now`, recalibrated on the pack's reviews.

    The ratio of the review's tenth of R and interval band is shrunk towards
    the ratio of the whole tenth (all its bands, and the rows of before bands).
    The tenth's stored rows are read once and kept by the process's count
    buffer until it writes; the answers not yet written are added to them.
    """
    floor = guess_floor(item)
    recall = retrievability(policy, state, now)
    predicted = floor + (1 - floor) * recall
    seen = state.last_review if state.last_review is not None else now
    scope, tenth = review_scope(recall=recall, days=(now - seen).total_seconds() / 86400)
    key = (item.pack_id, tenth)
    stored = pending.buffer.stored.get(key)
    if stored is None:
        params = {"pack_id": item.pack_id, "tenth": tenth, "bands": f"{tenth}:%"}
        rows = (await session.exec(_TENTH, params=params)).all()
        stored = {row: (correct, predicted) for row, correct, predicted in rows}
        pending.buffer.stored[key] = stored
    correct, expected = stored.get(scope, (0, 0.0))
    tenth_correct = sum(counted for counted, _ in stored.values())
    tenth_expected = sum(predicted for _, predicted in stored.values())
    for (pack_id, counted), added in pending.unwritten():
        if pack_id == item.pack_id and _in_tenth(counted, tenth):
            tenth_correct, tenth_expected = (
                tenth_correct + added.correct,
                tenth_expected + added.predicted,
            )
            if counted == scope:
                correct, expected = correct + added.correct, expected + added.predicted
    prior = shrunk_ratio(correct=tenth_correct, predicted=tenth_expected)
    ratio = shrunk_ratio(correct=correct, predicted=expected, prior=prior)
    value = recalibrated(predicted, ratio=ratio, floor=floor)
    return Expectation(value, item.pack_id, scope, predicted)


@dataclass(frozen=True, slots=True)
class Evidence:
    """A learner's graded answers in the window: how many, how many right, and what was expected."""

    answers: int = 0
    correct: int = 0
    expected: float = 0.0
    variance: float = 0.0  # Σ expected·(1 − expected)

    @property
    def z(self) -> float:
        """Σ(correct − expected) / √Σ expected·(1 − expected); 0 without answers."""
        if self.variance <= 0:
            return 0.0
        return (self.correct - self.expected) / math.sqrt(self.variance)

    def plus(self, *, answers: int, correct: int, expected: float, variance: float) -> Evidence:
        """This evidence with more graded answers counted in."""
        return Evidence(
            self.answers + answers,
            self.correct + correct,
            self.expected + expected,
            self.variance + variance,
        )

    def with_answer(self, *, correct: bool, expected: float) -> Evidence:
        """This evidence with one more graded answer counted in."""
        return self.plus(
            answers=1, correct=int(correct), expected=expected, variance=expected * (1 - expected)
        )

    def beyond(self, margin: float) -> float:
        """The z of a shortfall of `margin` per answer fewer than found: ≤ z, 0 without answers.

        A strongly negative value says the learner is very unlikely to be
        only `margin` (or less) below a typical learner.
        """
        if self.variance <= 0:
            return 0.0
        return (self.correct - self.expected + margin * self.answers) / math.sqrt(self.variance)

    def strong(self, policy: TeamPolicy) -> bool:
        """Enough answers, and a shortfall beyond the team's margin at or past its threshold."""
        return (
            self.answers >= policy.struggle_min_answers
            and self.beyond(policy.struggle_margin) <= policy.struggle_threshold
        )

    def in_words(self, days: int) -> str:
        """The evidence as a coach reads it."""
        return (
            f"answered {self.correct} of {self.answers} right in the last {days} working days "
            f"where a typical learner gets {self.expected:.0f} (z = {self.z:+.1f})"
        )


_CORRECT = func.coalesce(func.sum(case((col(Response.correct), 1), else_=0)), 0)
_SUMS = (
    func.count(col(Response.id)),
    _CORRECT,
    func.coalesce(func.sum(Response.expected), 0.0),
    func.coalesce(func.sum(Response.expected * (1 - Response.expected)), 0.0),
)
_EVIDENCE = select(*_SUMS).where(  # built once: it runs after every answer
    Response.person_id == bindparam("person_id"),
    Response.answered_at >= bindparam("since"),
)


async def evidence_since(session: AsyncSession, *, person_id: int, since: datetime) -> Evidence:
    """The learner's evidence from their answers given at or after `since`."""
    params = {"person_id": person_id, "since": since}
    answers, correct, expected, variance = (await session.exec(_EVIDENCE, params=params)).one()
    return Evidence(answers, correct, float(expected), float(variance))


async def team_evidence(
    session: AsyncSession, *, team_id: int, since: datetime
) -> dict[int, Evidence]:
    """Each learner of the team with answers since `since`, and their evidence (one query)."""
    statement = (
        select(col(Response.person_id), *_SUMS)  # type: ignore[call-overload]  # five columns
        .join(Person, col(Person.id) == Response.person_id)
        .where(
            Person.team_id == team_id,
            Person.role == Role.LEARNER,
            Response.answered_at >= since,
        )
        .group_by(col(Response.person_id))
    )
    return {
        person_id: Evidence(answers, correct, float(expected), float(variance))
        for person_id, answers, correct, expected, variance in (await session.exec(statement)).all()
    }


def window_start(calendar: WorkCalendar, *, today: date, days: int) -> date:
    """The first local date of a window of `days` working days ending today."""
    day, left = today, days
    while True:
        if calendar.is_working_day(day):
            left -= 1
            if left <= 0:
                return day
        day -= timedelta(days=1)


def local_midnight(day: date, timezone: str) -> datetime:
    """The instant a local date begins in `timezone`."""
    return datetime.combine(day, time(), tzinfo=ZoneInfo(timezone))


def working_days_between(calendar: WorkCalendar, start: date, end: date) -> int:
    """Working days after `start` up to and including `end`."""
    return sum(
        calendar.is_working_day(start + timedelta(days=offset))
        for offset in range(1, (end - start).days + 1)
    )


@dataclass(frozen=True, slots=True)
class Window:
    """Which of a learner's answers are scored now: those at or after `since`."""

    since: datetime
    days: int  # working days it spans, for the coach's reading
    cooling: bool  # inside the cool-down after a resolved case: only newer answers count


_LAST_RESOLVED = select(func.max(Escalation.resolved_at)).where(  # built once: after every answer
    Escalation.person_id == bindparam("person_id"),
    Escalation.status == EscalationStatus.RESOLVED,
)


def _window(
    calendar: WorkCalendar,
    *,
    person: Person,
    policy: TeamPolicy,
    since: datetime,
    today: date,
    resolved: datetime | None,
) -> Window:
    """The window from `since`, or from the last resolved case while in its cool-down."""
    if resolved is not None and resolved > since:
        resolved_on = local_date(resolved, person.timezone)
        if working_days_between(calendar, resolved_on, today) < policy.struggle_cooldown_days:
            return Window(resolved, working_days_between(calendar, resolved_on, today) + 1, True)
    return Window(since, policy.struggle_days, False)


async def _calendar_and_start(
    session: AsyncSession, *, person: Person, policy: TeamPolicy, now: datetime
) -> tuple[WorkCalendar, date, datetime]:
    """The learner's work calendar, local today, and the start of the full window."""
    team = await session.get(Team, person.team_id) if person.team_id is not None else None
    calendar = calendar_for(team)
    today = local_date(now, person.timezone)
    first = window_start(calendar, today=today, days=policy.struggle_days)
    return calendar, today, local_midnight(first, person.timezone)


async def scored_window(
    session: AsyncSession, *, person: Person, policy: TeamPolicy, now: datetime
) -> Window:
    """The last `struggle_days` working days; since the last resolved case in its cool-down."""
    calendar, today, since = await _calendar_and_start(
        session, person=person, policy=policy, now=now
    )
    resolved = (await session.exec(_LAST_RESOLVED, params={"person_id": person.id})).one()
    return _window(
        calendar, person=person, policy=policy, since=since, today=today, resolved=resolved
    )


_MISSES = func.coalesce(  # wrong answers to one item
    func.sum(
        case(
            (
                (col(Response.item_id) == bindparam("item_id")) & ~col(Response.correct),
                1,
            ),
            else_=0,
        )
    ),
    0,
)
_WINDOW_EVIDENCE = select(  # type: ignore[call-overload]  # six columns
    _LAST_RESOLVED.scalar_subquery(), _MISSES, *_SUMS
).where(
    Response.person_id == bindparam("person_id"),  # built once: it runs after every answer
    Response.answered_at >= bindparam("since"),
)


@dataclass(frozen=True, slots=True)
class Scored:
    """The scored window, the learner's evidence in it, and their misses of one item there."""

    window: Window
    evidence: Evidence
    misses: int

    def plus(self, *, correct: bool, expected: float) -> Scored:
        """This evidence with one more answer to its item counted in."""
        evidence = self.evidence.with_answer(correct=correct, expected=expected)
        return Scored(self.window, evidence, self.misses + (not correct))


async def scored_evidence(
    session: AsyncSession, *, person: Person, policy: TeamPolicy, now: datetime, item_id: int
) -> Scored:
    """The window, its evidence and misses of `item_id`: one query outside a cool-down."""
    calendar, today, since = await _calendar_and_start(
        session, person=person, policy=policy, now=now
    )
    window: Window | None = None
    while True:
        params = {"person_id": person.id, "since": since, "item_id": item_id}
        resolved, misses, answers, correct, expected, variance = (
            await session.exec(_WINDOW_EVIDENCE, params=params)
        ).one()
        if window is None:
            window = _window(
                calendar, person=person, policy=policy, since=since, today=today, resolved=resolved
            )
        if window.since == since:
            evidence = Evidence(answers, correct, float(expected), float(variance))
            return Scored(window, evidence, misses)
        since = window.since  # in a cool-down: count again from the resolution


@dataclass(slots=True)
class RunningEvidence:
    """A learner's evidence in their full window, kept up to date as a batch's answers come in."""

    today: date  # the learner's local date the window was read for: it moves with the date
    window: Window
    evidence: Evidence
    misses: dict[int, int]  # wrong answers by item

    def add(self, *, item_id: int, correct: bool, expected: float) -> None:
        """Count one more graded answer in the window."""
        self.evidence = self.evidence.with_answer(correct=correct, expected=expected)
        if not correct:
            self.misses[item_id] = self.misses.get(item_id, 0) + 1

    def scored(self, item_id: int) -> Scored:
        """What `scored_evidence` would read now for an answer to `item_id`."""
        return Scored(self.window, self.evidence, self.misses.get(item_id, 0))


async def running_evidence(
    session: AsyncSession, learners: list[tuple[Person, TeamPolicy]], *, now: datetime
) -> dict[int, RunningEvidence]:
    """The evidence of several learners at `now`, in two queries; none for one in a cool-down.

    A learner in a cool-down is left out: their answers count from the
    resolution, which `scored_evidence` reads on its own.
    """
    starts: dict[int, tuple[Person, TeamPolicy, WorkCalendar, date, datetime]] = {}
    for person, policy in learners:
        calendar, today, since = await _calendar_and_start(
            session, person=person, policy=policy, now=now
        )
        starts[person.id] = (person, policy, calendar, today, since)
    if not starts:
        return {}
    resolved_statement = (
        select(Escalation.person_id, func.max(Escalation.resolved_at))
        .where(
            col(Escalation.person_id).in_(starts), Escalation.status == EscalationStatus.RESOLVED
        )
        .group_by(col(Escalation.person_id))
    )
    resolved = dict((await session.exec(resolved_statement)).all())
    running: dict[int, RunningEvidence] = {}
    for person_id, (person, policy, calendar, today, since) in starts.items():
        window = _window(
            calendar,
            person=person,
            policy=policy,
            since=since,
            today=today,
            resolved=resolved.get(person_id),
        )
        if not window.cooling:
            running[person_id] = RunningEvidence(today, window, Evidence(), {})
    if not running:
        return running
    sums = (
        select(  # type: ignore[call-overload]  # seven columns
            col(Response.person_id),
            col(Response.item_id),
            *_SUMS,
            func.coalesce(func.sum(case((col(Response.correct), 0), else_=1)), 0),
        )
        .where(
            or_(
                *(
                    (col(Response.person_id) == person_id)
                    & (col(Response.answered_at) >= learner.window.since)
                    for person_id, learner in running.items()
                )
            )
        )
        .group_by(col(Response.person_id), col(Response.item_id))
    )
    for person_id, item_id, answers, correct, expected, variance, misses in (
        await session.exec(sums)
    ).all():
        learner = running[person_id]
        learner.evidence = learner.evidence.plus(
            answers=answers, correct=correct, expected=float(expected), variance=float(variance)
        )
        if misses:
            learner.misses[item_id] = misses
    return running
