"""The admin's `status` in chat: learners by state, open cases, and the outbox of the last day."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Delivery, Escalation, Person, Role

WINDOW = timedelta(hours=24)


async def status_text(session: AsyncSession, *, now: datetime) -> str:
    """Learners by status, cases open and claimed, outbox rows of the last 24 hours by status."""
    learners = dict(
        (
            await session.exec(
                select(Person.status, func.count(col(Person.id)))
                .where(Person.role == Role.LEARNER)
                .group_by(col(Person.status))
            )
        ).all()
    )
    cases = dict(
        (
            await session.exec(
                select(Escalation.status, func.count(col(Escalation.id))).group_by(
                    col(Escalation.status)
                )
            )
        ).all()
    )
    outbox = dict(
        (
            await session.exec(
                select(Delivery.status, func.count(col(Delivery.id)))
                .where(Delivery.due_at >= now - WINDOW)
                .group_by(col(Delivery.status))
            )
        ).all()
    )

    def listed(counts: dict[str, int]) -> str:
        return ", ".join(f"{count} {status}" for status, count in sorted(counts.items())) or "none"

    return "\n".join(
        [
            "📊 *Status*",
            f"• Learners: {listed(learners)}",
            f"• Cases: {listed({s: n for s, n in cases.items() if s != 'resolved'})}",
            f"• Messages due in the last 24 hours: {listed(outbox)}",
        ]
    )
