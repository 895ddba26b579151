"""The coaches' daily digest: their open cases, once per coach and local day.

It also lists the team's learners whose struggle evidence is strong but who
have no open case (held back by the weekly case limit, or in a cool-down),
strongest evidence first, so a coach who has room can reach out.
"""

from __future__ import annotations

from datetime import date, time

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.coaching.calendar import calendar_for
from bot.coaching.escalation import OPEN_STATUSES, cases_lines, visible_cases
from bot.coaching.people import local_now
from bot.coaching.policy import policy_for
from bot.coaching.struggle import local_midnight, team_evidence, window_start
from bot.messages import Outbound, OutboundKind, Spans, UserText
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

WATCH_HEADING = "Struggling, no case opened (weekly case limit or recently coached):"


async def watch_list(
    session: AsyncSession, *, coach: Person, team: Team | None, today: date
) -> Spans:
    """The team's learners without an open case whose evidence meets the bar, strongest first."""
    if team is None:
        return ()
    policy = policy_for(team)
    first = window_start(calendar_for(team), today=today, days=policy.struggle_days)
    scored = await team_evidence(
        session, team_id=team.id, since=local_midnight(first, coach.timezone)
    )
    strong = {person_id: e for person_id, e in scored.items() if e.strong(policy)}
    if not strong:
        return ()
    has_case = select(Escalation.person_id).where(col(Escalation.status).in_(OPEN_STATUSES))
    people = (
        await session.exec(
            select(Person).where(
                col(Person.id).in_(strong),
                col(Person.id).not_in(has_case),
                Person.status == PersonStatus.ACTIVE,
            )
        )
    ).all()
    lines: list[Spans] = [
        ("\n• ", UserText(person.name), f": {strong[person.id].in_words(policy.struggle_days)}")
        for person in sorted(people, key=lambda person: strong[person.id].z)
    ]
    return tuple(span for line in lines for span in line)


async def coach_digest_tick(*, sessions: SessionFactory, clock: Clock) -> int:
    """Send each coach with open cases or struggling learners a digest after their send time.

    Keyed `digest:<local date>`, so a coach gets at most one a day (a long one in
    parts, `digest:<date>:2` …); teams can switch it off with the `coach_digest` policy.
    """
    now = clock.now()
    sent = 0
    async with sessions.begin() as session:
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
            watch = await watch_list(session, coach=coach, team=team, today=local.date())
            if not rows and not watch:
                continue
            sections: list[Spans] = [cases_lines(rows)] if rows else []
            if watch:
                sections.append((WATCH_HEADING, *watch))
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
                    sections=tuple(sections),
                ),
                now=now,
            )
    return sent
