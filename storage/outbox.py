"""The outbox claim: hands each due delivery to exactly one dispatcher."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Row, Update, and_, bindparam, select
from sqlmodel import col
from sqlmodel import select as sqlmodel_select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import run_core
from storage.models import Delivery, DeliveryStatus, Person

DEFAULT_STALE_AFTER = timedelta(minutes=5)


_OUTBOX = Delivery.__table__  # type: ignore[attr-defined]  # SQLModel does not declare __table__
_PEOPLE = Person.__table__  # type: ignore[attr-defined]  # SQLModel does not declare __table__


async def claim_due(
    session: AsyncSession,
    *,
    now: datetime,
    worker: str,
    limit: int = 50,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    platforms: Collection[str] | None = None,
    person_ids: Collection[int] | None = None,
) -> list[int]:
    """Atomically claim up to `limit` due deliveries for `worker` and commit; their ids,
    earliest due first.

    A row is due when it is pending and its time has come, or when another
    worker claimed it more than `stale_after` ago and never finished (a crash);
    those come first, then pending rows by priority (answers before the fan-out).
    With `platforms`, only rows for people on those platforms are claimed, so a
    process never takes rows it has no transport for. With `person_ids`, only
    those people's rows are claimed (`deliver now` for some learners).
    The candidates are picked once, in a materialised CTE: PostgreSQL locks them
    with `FOR UPDATE SKIP LOCKED` so concurrent claimers pass each other by (as a
    plain `IN (subquery)` it may re-run the subquery and claim more than `limit`);
    on SQLite the single `UPDATE … RETURNING` holds the write lock. The statements
    are Core ones on the table: the caller loads the rows it claimed with what
    else it needs, in one query.
    """
    params: dict[str, object] = {
        "now": now,
        "stale_before": now - stale_after,
        "worker": worker,
    }
    if platforms is not None:
        params["platforms"] = list(platforms)
    if person_ids is not None:
        params["people"] = list(person_ids)
    claimed: list[Row[Any]] = []
    for stale in (True, False):
        statement = _claim_statement(
            session.get_bind().dialect.name,
            stale=stale,
            by_platform=platforms is not None,
            by_person=person_ids is not None,
        )
        params["batch"] = limit - len(claimed)
        if params["batch"]:
            claimed += (await run_core(session, statement, params)).all()
    await session.commit()
    return [row.id for row in sorted(claimed, key=lambda row: (row.due_at, row.id))]


@cache
def _claim_statement(dialect: str, *, stale: bool, by_platform: bool, by_person: bool) -> Update:
    """The claim `UPDATE … RETURNING`, built once per dialect (it runs every few seconds).

    Pending rows are taken in `(priority, due_at, id)` order, which the claim index
    serves without sorting the backlog; claims left by a crash (`stale`) are
    taken over by a statement of their own.
    """
    if stale:
        due = and_(
            _OUTBOX.c.status == DeliveryStatus.CLAIMED,
            _OUTBOX.c.claimed_at < bindparam("stale_before"),
        )
    else:
        due = and_(_OUTBOX.c.status == DeliveryStatus.PENDING, _OUTBOX.c.due_at <= bindparam("now"))
    candidates = (
        select(_OUTBOX.c.id)
        .where(due)
        .order_by(_OUTBOX.c.priority, _OUTBOX.c.due_at, _OUTBOX.c.id)
        .limit(bindparam("batch"))
    )
    if by_platform:
        on_platforms = select(_PEOPLE.c.id).where(
            _PEOPLE.c.platform.in_(bindparam("platforms", expanding=True))
        )
        candidates = candidates.where(_OUTBOX.c.person_id.in_(on_platforms))
    if by_person:
        candidates = candidates.where(_OUTBOX.c.person_id.in_(bindparam("people", expanding=True)))
    if dialect == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    picked = candidates.cte("claim_candidates").prefix_with("MATERIALIZED", dialect="postgresql")
    return (
        _OUTBOX.update()
        .where(_OUTBOX.c.id.in_(select(picked.c.id)), due)
        .values(
            status=DeliveryStatus.CLAIMED,
            claimed_at=bindparam("now"),
            claimed_by=bindparam("worker"),
            attempts=_OUTBOX.c.attempts + 1,
        )
        .returning(_OUTBOX.c.id, _OUTBOX.c.due_at)
    )


async def delivery_for_message(
    session: AsyncSession, *, platform: str, chat_member: str, message_id: str
) -> Delivery | None:
    """The sent row behind a platform message (a reply to it, a button under it), or None.

    `chat_member` is the platform id of the person the message went to; the
    message id is indexed (`platform_ref`), and an edit row never holds it.
    """
    statement = (
        sqlmodel_select(Delivery)
        .join(Person, col(Person.id) == col(Delivery.person_id))
        .where(
            col(Delivery.platform_ref) == message_id,
            col(Person.platform) == platform,
            col(Person.platform_id) == chat_member,
        )
        .order_by(col(Delivery.id))
        .limit(1)
    )
    return (await session.exec(statement)).first()
