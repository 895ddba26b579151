"""Pausing and resuming a learner: sends stop, review intervals freeze for the stretch.

`Person.paused_until` is the first local date the learner is active again
(`OPEN_ENDED` until they resume); `Person.paused_at` is when the pause began.
Resuming moves every FSRS card forward by the time spent paused. A pause with
an end date ends by itself: the planner should call `resume_if_due` before
planning a learner, so the cards move then too.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta
from typing import Protocol

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.coaching.people import local_today
from bot.coaching.review import shift_reviews
from storage.models import DAY_KINDS, Delivery, DeliveryKind, DeliveryStatus, Person, PersonStatus

OPEN_ENDED = date(9999, 12, 31)


class Pausable(Protocol):
    """Anything with a pause end date: a `Person`, or the planner's plain learner row."""

    @property
    def paused_until(self) -> date | None:
        """The first local date the learner is active again, or None."""


def is_paused(person: Pausable, today: date) -> bool:
    """True while `today` is before the pause's end date."""
    return person.paused_until is not None and today < person.paused_until


async def cancel_pending(
    session: AsyncSession,
    *,
    person_id: int,
    kinds: tuple[DeliveryKind, ...] | None = DAY_KINDS,
    reason: str = "paused",
    except_ids: Collection[int] = (),
) -> int:
    """Cancel the person's unsent deliveries (of `kinds`, or all when None); returns how many."""
    statement = (
        update(Delivery)
        .where(
            col(Delivery.person_id) == person_id,
            col(Delivery.status).in_((DeliveryStatus.PENDING, DeliveryStatus.CLAIMED)),
        )
        .values(status=DeliveryStatus.CANCELLED, reason=reason)
        .execution_options(synchronize_session=False)
    )
    if except_ids:
        statement = statement.where(col(Delivery.id).not_in(except_ids))
    if kinds is not None:
        statement = statement.where(col(Delivery.kind).in_(kinds))
    result = await session.exec(statement)
    return result.rowcount


async def mark_unreachable(
    session: AsyncSession, person: Person, *, except_ids: Collection[int] = ()
) -> None:
    """The person cannot be reached: mark them so and cancel everything queued for them."""
    person.status = PersonStatus.UNREACHABLE
    session.add(person)
    await cancel_pending(
        session,
        person_id=person.id,
        kinds=None,
        reason="recipient unreachable",
        except_ids=except_ids,
    )


async def pause_person(
    session: AsyncSession, *, person: Person, until: date | None, now: datetime
) -> None:
    """Pause until `until` (None: until resumed); unsent lessons and prompts are cancelled."""
    person.paused_until = until or OPEN_ENDED
    person.paused_at = person.paused_at or now
    session.add(person)
    await cancel_pending(session, person_id=person.id)


async def resume_person(session: AsyncSession, *, person: Person, now: datetime) -> timedelta:
    """End the pause and move review cards forward by its length; returns that length."""
    span = now - person.paused_at if person.paused_at else timedelta(0)
    if span > timedelta(0):
        await shift_reviews(session, person_id=person.id, by=span)
    person.paused_until = None
    person.paused_at = None
    session.add(person)
    return span


async def resume_if_due(session: AsyncSession, *, person: Person, now: datetime) -> bool:
    """Resume a learner whose pause end date has come; True if it did."""
    if person.paused_until is None or is_paused(person, local_today(person, now)):
        return False
    await resume_person(session, person=person, now=now)
    return True
