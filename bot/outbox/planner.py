"""The plan tick: give every learner whose send time has come today's rows, once.

Only today's local date is ever planned, so after downtime a learner gets at
most today's delivery, never a backlog. Rows are keyed `(learner, key)` with
the local date in the key, so planning twice, or in two processes at once,
adds nothing the second time.

A tick reads only the learners whose `Person.next_plan_at` has come (an index
lookup; everyone else costs nothing), in batches of `batch` learners, each
batch planned in one transaction with a few statements. Each learner looked at
gets their next look: their send time today when it has not come, else their
send time tomorrow (planned or not: paused, a day off, the pack finished). A
change that may plan someone sooner (send time, zone, pause, enrolment, team
calendar) clears it (`storage.plan_marks`). A change committed while a tick is
between reading and marking that same learner is seen at their next look.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from sqlalchemy import bindparam, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.coaching.calendar import WorkCalendar, calendar_for, local_date, send_instant
from bot.coaching.pauses import is_paused, resume_if_due
from bot.coaching.policy import TeamPolicy, policy_for
from bot.outbox.daily import LearnerDay, expire_past_days, plan_days
from storage.db import SessionFactory, in_chunks
from storage.models import PLANNED_KINDS, Delivery, Enrolment, Person, PersonStatus, Role, Team

log = logging.getLogger(__name__)

NEVER = datetime(9999, 1, 1, tzinfo=UTC)  # not a learner to plan until something changes
NOT_YET = "send time not reached"
_PEOPLE = Person.__table__  # type: ignore[attr-defined]  # SQLModel does not declare __table__
_MARK = (
    update(_PEOPLE)
    .where(_PEOPLE.c.id.in_(bindparam("people", expanding=True)))
    .values(next_plan_at=bindparam("at"))
    .execution_options(synchronize_session=False)
)


# Most learners share a few send times and zones: each instant is worked out once.
_send_instant = lru_cache(maxsize=4096)(send_instant)


@dataclass
class PlanResult:
    """What one plan tick did: learners planned, rows added, and why others were skipped."""

    planned: list[str] = field(default_factory=list)
    rows: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class _Learner:
    """A learner with what planning needs of them: plain values, cheaper than entities."""

    person_id: int
    name: str
    timezone: str
    send_time: str
    paused_until: date | None
    enrolment_id: int
    team_id: int | None


class _Teams:
    """Each team's calendar and policy, built once per tick."""

    def __init__(self, teams: Sequence[Team]) -> None:
        self._teams = {team.id: team for team in teams}
        self._calendars: dict[int | None, WorkCalendar] = {}
        self._policies: dict[int | None, TeamPolicy] = {}

    def calendar(self, team_id: int | None) -> WorkCalendar:
        """The team's working calendar."""
        if team_id not in self._calendars:
            self._calendars[team_id] = calendar_for(self._teams.get(team_id or 0))
        return self._calendars[team_id]

    def policy(self, team_id: int | None) -> TeamPolicy:
        """The team's coaching policy."""
        if team_id not in self._policies:
            self._policies[team_id] = policy_for(self._teams.get(team_id or 0))
        return self._policies[team_id]


async def _due_for_a_look(session: AsyncSession, now: datetime) -> list[int]:
    """People whose next look has come (or was cleared), from the index alone."""
    statement = select(Person.id).where(
        or_(col(Person.next_plan_at).is_(None), col(Person.next_plan_at) <= now)
    )
    return sorted((await session.exec(statement)).all())


async def _learners(session: AsyncSession, person_ids: Collection[int]) -> list[_Learner]:
    """Those of `person_ids` who are active learners with an active enrolment."""
    statement = (
        select(  # type: ignore[call-overload]  # SQLModel types select() up to four columns
            Person.id,
            Person.name,
            Person.timezone,
            Person.send_time,
            Person.paused_until,
            Enrolment.id,
            Person.team_id,
        )
        .join(Enrolment, col(Enrolment.person_id) == col(Person.id))
        .where(
            col(Person.id).in_(person_ids),
            Person.role == Role.LEARNER,
            Person.status == PersonStatus.ACTIVE,
            col(Enrolment.active).is_(True),
        )
        .order_by(col(Person.id))
    )
    return [_Learner(*row) for row in (await session.exec(statement)).all()]


async def _not_plannable(session: AsyncSession, person_ids: Collection[int]) -> Counter[str]:
    """Why each of these people is never planned: their status, role or missing enrolment."""
    reasons: Counter[str] = Counter()
    statement = select(Person).where(col(Person.id).in_(person_ids))
    for person in (await session.exec(statement)).all():
        if person.role != Role.LEARNER:
            reasons[f"not a learner ({person.role})"] += 1
        elif person.status != PersonStatus.ACTIVE:
            reasons[str(person.status)] += 1
        else:
            reasons["not enrolled in a pack"] += 1
    return reasons


async def _planned_days(
    session: AsyncSession, person_ids: Collection[int], since: date
) -> set[tuple[int, date | None]]:
    """(learner, local date) pairs of these learners with a day's plan on or after `since`."""
    statement = (
        select(Delivery.person_id, col(Delivery.local_date))
        .where(
            col(Delivery.person_id).in_(person_ids),
            col(Delivery.kind).in_(PLANNED_KINDS),
            col(Delivery.local_date) >= since,
        )
        .distinct()
    )
    return {(person_id, day) for person_id, day in (await session.exec(statement)).all()}


@dataclass(frozen=True, slots=True)
class _Tick:
    """What every batch of one tick shares."""

    now: datetime
    now_for_everyone: bool
    teams: _Teams
    result: PlanResult
    progress: Callable[[int], None] | None


async def plan_tick(
    *,
    sessions: SessionFactory,
    clock: Clock,
    person_ids: Collection[int] | None = None,
    now_for_everyone: bool = False,
    batch: int | None = 500,
    progress: Callable[[int], None] | None = None,
) -> PlanResult:
    """Plan today's rows for every learner whose local send time has passed.

    Active learners with an active enrolment are planned; with `person_ids`,
    only those (whatever their next look), and the others among them are
    counted in `skipped` with the reason. Learners are planned `batch` at a
    time (`None`: all in one), every due learner in this tick. `progress(n)` is
    called as each next `n` learners are dealt with. `now_for_everyone` is
    `deliver now`: today's lesson is planned at once, ignoring working days,
    holidays and the send time, but never for a paused learner; it uses the
    same local-date keys, so the scheduler will not send that day again.
    """
    now = clock.now()
    result = PlanResult()
    async with sessions() as session:
        teams = _Teams((await session.exec(select(Team))).all())
        if person_ids is None:
            ids = await _due_for_a_look(session, now)
        else:
            ids = sorted(set(person_ids))
            plannable = {learner.person_id for learner in await _learners(session, ids)}
            others = [person_id for person_id in ids if person_id not in plannable]
            if others:
                result.skipped.update(await _not_plannable(session, others))
            if progress is not None:
                progress(result.skipped.total())
    tick = _Tick(now, now_for_everyone, teams, result, progress)
    for part in in_chunks(ids, batch or max(len(ids), 1)):
        await _plan_batch(sessions, part, tick)
    return result


async def _plan_batch(sessions: SessionFactory, person_ids: list[int], tick: _Tick) -> None:
    """Look at a batch of people: plan those due, and set everyone's next look."""
    now, result = tick.now, tick.result
    async with sessions() as session:
        learners = await _learners(session, person_ids)
        done = await _planned_days(session, person_ids, (now - timedelta(days=2)).date())
    looks = dict.fromkeys(person_ids, NEVER)  # not learners to plan, until something changes
    due: list[tuple[_Learner, date, datetime]] = []
    dates: dict[str, date] = {}  # time zone → its date now
    for learner in learners:
        if tick.progress is not None:
            tick.progress(1)
        if learner.timezone not in dates:
            dates[learner.timezone] = local_date(now, learner.timezone)
        today = dates[learner.timezone]
        looks[learner.person_id] = _send_instant(
            today + timedelta(days=1), learner.send_time, learner.timezone
        )
        if (learner.person_id, today) in done:
            result.skipped["already planned today"] += 1
            continue
        reason = _not_today(learner, today, now, tick)
        if reason == NOT_YET:
            looks[learner.person_id] = _send_instant(today, learner.send_time, learner.timezone)
        if reason:
            result.skipped[reason] += 1
            continue
        due_at = (
            now
            if tick.now_for_everyone
            else _send_instant(today, learner.send_time, learner.timezone)
        )
        due.append((learner, today, due_at))
    if due:
        outcomes = await _plan_learners(sessions, due, tick)
        for learner, _, _ in due:
            added = outcomes[learner.person_id]
            if isinstance(added, str):
                result.skipped[added] += 1
            elif added == 0:
                result.skipped["pack finished, no reviews due"] += 1
            else:
                result.planned.append(learner.name)
                result.rows += added
    await _mark(sessions, looks)


async def _mark(sessions: SessionFactory, looks: dict[int, datetime]) -> None:
    """Set each person's next look, one statement per distinct time (most share a few)."""
    by_time: dict[datetime, list[int]] = {}
    for person_id, at in looks.items():
        by_time.setdefault(at, []).append(person_id)
    async with sessions.begin() as session:
        for at, people in by_time.items():
            for chunk in in_chunks(people):
                await session.exec(_MARK, params={"people": chunk, "at": at})


def _not_today(learner: _Learner, today: date, now: datetime, tick: _Tick) -> str:
    """Why this learner gets nothing now, or '' when they are due."""
    if is_paused(learner, today):
        return "paused"
    if tick.now_for_everyone:
        return ""
    if not tick.teams.calendar(learner.team_id).is_working_day(today):
        return "not a working day"
    if now < _send_instant(today, learner.send_time, learner.timezone):
        return NOT_YET
    return ""


async def _plan_learners(
    sessions: SessionFactory, due: list[tuple[_Learner, date, datetime]], tick: _Tick
) -> dict[int, int | str]:
    """Plan these learners' days in one transaction: rows added per person, or why none were.

    When another process planned one of them meanwhile (a taken key), each is
    planned again in a transaction of their own.
    """
    try:
        async with sessions.begin() as session:
            return await _plan_in(session, due, tick)
    except IntegrityError:
        log.info("some learners' rows were planned by another process; planning one at a time")
    outcomes: dict[int, int | str] = {}
    for one in due:
        try:
            async with sessions.begin() as session:
                outcomes.update(await _plan_in(session, [one], tick))
        except IntegrityError:
            log.info("%s: today's rows were planned by another process", one[0].name)
            outcomes[one[0].person_id] = "planned by another process"
    return outcomes


async def _plan_in(
    session: AsyncSession, due: list[tuple[_Learner, date, datetime]], tick: _Tick
) -> dict[int, int | str]:
    """Plan these learners in `session`'s transaction.

    The learners are read again in it (on PostgreSQL locked for it, so a pause
    or stop waits and then cancels what was planned): someone who paused,
    stopped or left since the tick's first read gets nothing.
    """
    statement = (
        select(  # type: ignore[call-overload]  # SQLModel types select() up to four columns
            Person.id,
            Person.status,
            Person.paused_until,
            col(Enrolment.active),
            col(Enrolment.finished_at).is_not(None),
        )
        .join(Enrolment, col(Enrolment.person_id) == Person.id)
        .where(col(Enrolment.id).in_([learner.enrolment_id for learner, _, _ in due]))
        .with_for_update(of=Person)
    )
    found = {row[0]: row for row in (await session.exec(statement)).all()}
    outcomes: dict[int, int | str] = {}
    days: list[LearnerDay] = []
    by_date: dict[date, list[int]] = {}
    for learner, today, due_at in due:
        if learner.person_id not in found:
            outcomes[learner.person_id] = "not enrolled in a pack"
            continue
        _, status, paused_until, active, finished = found[learner.person_id]
        locked = replace(learner, paused_until=paused_until)  # as read under the lock
        if paused_until is not None and not is_paused(locked, today):  # over: resume them
            person = await session.get_one(Person, learner.person_id)
            await resume_if_due(session, person=person, now=tick.now)
            locked = replace(locked, paused_until=person.paused_until)
        if status != PersonStatus.ACTIVE:
            outcomes[learner.person_id] = str(status)
        elif is_paused(locked, today):
            outcomes[learner.person_id] = "paused"
        elif not active:
            outcomes[learner.person_id] = "not enrolled in a pack"
        else:
            by_date.setdefault(today, []).append(learner.person_id)
            days.append(
                LearnerDay(
                    person_id=learner.person_id,
                    timezone=learner.timezone,
                    team_id=learner.team_id,
                    enrolment_id=learner.enrolment_id,
                    finished=finished,
                    policy=tick.teams.policy(learner.team_id),
                    day=today,
                    due_at=due_at,
                )
            )
    for today, people in by_date.items():
        await expire_past_days(session, person_ids=people, today=today)
    outcomes.update(await plan_days(session, days, now=tick.now))
    return outcomes
