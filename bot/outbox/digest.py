"""The coaches' daily digest: their open cases, once per coach and local day."""

from __future__ import annotations

from datetime import time

from sqlalchemy import func
from sqlmodel import col, select

from bot.clock import Clock
from bot.coaching.escalation import OPEN_STATUSES, cases_lines, visible_cases
from bot.coaching.people import local_now
from bot.coaching.policy import policy_for
from bot.messages import Outbound, OutboundKind
from bot.outbox.queue import queue_once
from storage.db import SessionFactory
from storage.models import (
    Delivery,
    DeliveryKind,
    Escalation,
    Person,
    PersonStatus,
    Role,
    Team,
)


async def coach_digest_tick(*, sessions: SessionFactory, clock: Clock) -> int:
    """Send each coach with open cases a digest after their local send time; returns how many.

    Keyed `digest:<local date>`, so a coach gets at most one a day (a long one in
    parts, `digest:<date>:2` …); teams can switch it off with the `coach_digest` policy.
    """
    now = clock.now()
    sent = 0
    async with sessions.begin() as session:
        open_cases = (
            await session.exec(
                select(Escalation.id).where(col(Escalation.status).in_(OPEN_STATUSES))
            )
        ).first()
        if open_cases is None:
            return 0
        last_digest = (
            select(func.max(Delivery.local_date))
            .where(
                col(Delivery.person_id) == Person.id, col(Delivery.delivery_key).like("digest:%")
            )
            .scalar_subquery()
        )
        coaches = (
            await session.exec(
                select(Person, Team, last_digest)
                .outerjoin(Team, col(Team.id) == Person.team_id)
                .where(Person.role == Role.COACH, Person.status == PersonStatus.ACTIVE)
            )
        ).all()
        for coach, team, last_day in coaches:
            local = local_now(coach, now)
            if (
                not policy_for(team).coach_digest
                or local.time() < time.fromisoformat(coach.send_time)
                or last_day == local.date()  # today's is queued already
            ):
                continue
            rows = await visible_cases(session, coach=coach)
            if not rows:
                continue
            sent += await queue_once(
                session,
                person_id=coach.id,
                key=f"digest:{local.date().isoformat()}",
                kind=DeliveryKind.NOTICE,
                local_date=local.date(),
                text=Outbound(
                    OutboundKind.NOTICE,
                    icon="📋",
                    title=("Your open cases",),
                    sections=(cases_lines(rows),),
                ),
                now=now,
            )
    return sent
