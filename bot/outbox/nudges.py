"""Nudges: one reminder per learner and day for prompts still unanswered after N hours.

Only inside the learner's working hours (before the team's `working_hours_end`,
local time), never while paused. The key `nudge:<local date>` makes the
reminder once per day even with several ticking processes.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import String, bindparam, cast, exists, literal
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from bot.clock import Clock
from bot.coaching.pauses import is_paused
from bot.coaching.people import local_now
from bot.coaching.policy import policy_for
from bot.outbox.queue import queue_once
from storage.db import SessionFactory
from storage.models import (
    PROMPT_KINDS,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Person,
    PersonStatus,
    Response,
    Role,
    Team,
)


def nudge_text(count: int) -> str:
    """The reminder's wording for `count` waiting questions."""
    if count == 1:
        return "⏰ Today's question is still waiting for your answer; it only takes a minute."
    return f"⏰ {count} of today's questions are still waiting for your answers."


LOCAL_DAY = timedelta(hours=26)  # the longest local date (25 hours) and a margin
_NUDGED = aliased(Delivery)
_WAITING_PROMPTS = (  # built once: it runs every few minutes
    select(col(Delivery.local_date), col(Delivery.sent_at), Person, Team)
    .join(Person, col(Person.id) == Delivery.person_id)
    .outerjoin(Team, col(Team.id) == Person.team_id)
    .outerjoin(Response, col(Response.delivery_id) == Delivery.id)
    .where(
        col(Delivery.kind).in_(PROMPT_KINDS),
        Delivery.status == DeliveryStatus.SENT,
        col(Delivery.sent_at) >= bindparam("since"),
        col(Delivery.sent_at) <= bindparam("overdue"),
        # Only today's prompts are nudged, and a prompt is due and sent on its own local
        # day (at most 25 hours long): this bound lets the (status, due_at) index skip
        # every earlier day's row instead of reading the outbox's history.
        col(Delivery.due_at) >= bindparam("since"),
        col(Delivery.due_at) <= bindparam("overdue"),
        col(Response.id).is_(None),
        col(Delivery.refers_to).is_(None),  # a copy (`today`) is answered as the first
        Person.role == Role.LEARNER,
        Person.status == PersonStatus.ACTIVE,
        ~exists().where(  # today's nudge, by its key: the (person, key) unique index finds it
            col(_NUDGED.person_id) == Delivery.person_id,
            col(_NUDGED.delivery_key) == literal("nudge:") + cast(Delivery.local_date, String),
        ),
    )
)


async def nudge_tick(*, sessions: SessionFactory, clock: Clock) -> int:
    """Queue due nudges in one transaction; returns how many were queued."""
    now = clock.now()
    queued = 0
    async with sessions.begin() as session:
        teams = (await session.exec(select(Team))).all()
        soonest = min(policy_for(team).nudge_after_hours for team in [*teams, None])
        params = {"since": now - LOCAL_DAY, "overdue": now - timedelta(hours=soonest)}
        rows = (await session.exec(_WAITING_PROMPTS, params=params)).all()
        waiting: dict[int, tuple[Person, Team | None, list[tuple[date | None, datetime | None]]]]
        waiting = {}
        team: Team | None  # the outer join leaves it None for a learner without a team
        for day, sent_at, person, team in rows:
            waiting.setdefault(person.id, (person, team, []))[2].append((day, sent_at))
        for person, team, prompts in waiting.values():
            policy = policy_for(team)
            local = local_now(person, now)
            if is_paused(person, local.date()):
                continue
            if local.time() >= time.fromisoformat(policy.working_hours_end):
                continue
            overdue = now - timedelta(hours=policy.nudge_after_hours)
            today = [
                day
                for day, sent_at in prompts
                if day == local.date() and sent_at is not None and sent_at <= overdue
            ]
            if not today:
                continue
            queued += await queue_once(
                session,
                person_id=person.id,
                key=f"nudge:{local.date().isoformat()}",
                kind=DeliveryKind.NUDGE,
                local_date=local.date(),
                text=nudge_text(len(today)),
                now=now,
            )
    return queued
