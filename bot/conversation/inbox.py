"""The inbox: an inbound event is stored, in its own short transaction, before it is handled.

Its unique `(platform, event_id)` turns a second delivery of the same event
away, whether the first is still waiting or long handled. Handling it
(grading, feedback, scores) happens in a second transaction that marks the
entry handled, and empties it, as it commits, so an event is handled exactly
once. When that fails (a locked or restarted database, a bug), the event stays
waiting and `replay` hands it to the router again later: an answer a learner
sent is never lost, it only waits. After `MAX_ATTEMPTS` failures an event is
kept with its last error and no longer retried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from pydantic import TypeAdapter
from sqlalchemy import bindparam, delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.coaching.people import split_address
from bot.messages import Answer, Blocked, CoachAction, Command, Inbound, Join, PollAnswer, Text
from storage.db import SessionFactory, insert_unless_taken, run_core
from storage.models import InboxEntry

MAX_ATTEMPTS = 5
REPLAY_AFTER = timedelta(seconds=30)  # younger events may still be in their first handling
# Platforms redeliver within hours (Slack retries for minutes, Telegram until acknowledged);
# a handled event's key is kept well past that, then pruned.
HANDLED_KEPT = timedelta(days=7)
PRUNED_AT_ONCE = 5_000  # rows deleted per statement: a short write, whatever the backlog
_KEY = ("platform", "event_id")
_RETURNED = (col(InboxEntry.id), col(InboxEntry.platform), col(InboxEntry.event_id))
_KINDS: dict[str, TypeAdapter[Inbound]] = {
    kind.__name__: TypeAdapter(kind)
    for kind in (Answer, PollAnswer, Text, Command, CoachAction, Join, Blocked)
}
_TABLE = InboxEntry.__table__  # type: ignore[attr-defined]  # SQLModel does not declare __table__
_TAKE = (  # built once: every event
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("entry_id"), _TABLE.c.handled_at.is_(None))
    .values(
        handled_at=bindparam("handled_at", type_=_TABLE.c.handled_at.type),
        event=bindparam("empty", type_=_TABLE.c.event.type),
    )
)


def _stored(inbound: Inbound, now: datetime) -> dict[str, object]:
    """The event's row: its key, its kind and the event as plain JSON values."""
    kind = type(inbound).__name__
    return {
        "platform": split_address(inbound.address)[0],
        "event_id": inbound.event_id,
        "kind": kind,
        "event": _KINDS[kind].dump_python(inbound, mode="json"),
        "received_at": now,
        "attempts": 0,
    }


def event_of(entry: InboxEntry) -> Inbound:
    """The event a stored entry holds."""
    return _KINDS[entry.kind].validate_python(entry.event)


async def store_all(
    session: AsyncSession, inbounds: list[Inbound], *, now: datetime
) -> list[int | None]:
    """Add the events new to the inbox in one statement (in the caller's transaction).

    Their entry ids, in order; None for an event stored before (even earlier in `inbounds`).
    """
    rows = [_stored(inbound, now) for inbound in inbounds]
    # The ids come back with their keys: on SQLite, asking them in parameter order
    # instead would insert one row per statement.
    store = insert_unless_taken(session, InboxEntry, unique=_KEY, returning=_RETURNED)
    fresh = {
        (platform, event_id): entry_id
        for entry_id, platform, event_id in (await run_core(session, store, rows)).all()
    }
    return [fresh.pop((row["platform"], row["event_id"]), None) for row in rows]


async def take(session: AsyncSession, entry_id: int, *, now: datetime) -> bool:
    """Mark the entry handled in the handling transaction; False if it was handled already."""
    params = {"entry_id": entry_id, "handled_at": now, "empty": {}}
    return bool((await run_core(session, _TAKE, params)).rowcount)


async def take_all(session: AsyncSession, entry_ids: list[int], *, now: datetime) -> set[int]:
    """`take` for several entries in one statement; the ids taken (not handled already)."""
    statement = (
        update(_TABLE)
        .where(_TABLE.c.id.in_(entry_ids), _TABLE.c.handled_at.is_(None))
        .values(handled_at=now, event={})
        .returning(_TABLE.c.id)
    )
    return set((await run_core(session, statement)).scalars().all())


async def failed(sessions: SessionFactory, entry_id: int, error: str) -> None:
    """Count a failed handling of the entry, keeping the error."""
    statement = (
        update(InboxEntry)
        .where(col(InboxEntry.id) == entry_id)
        .values(attempts=InboxEntry.attempts + 1, last_error=error[:500])
    )
    async with sessions.begin() as session:
        await session.exec(statement)


async def replay(
    *,
    sessions: SessionFactory,
    now: datetime,
    handle: Callable[[int, Inbound], Awaitable[None]],
    limit: int = 500,
) -> int:
    """Hand stored events whose handling failed (or was cut off) to `handle` again; how many."""
    statement = (
        select(InboxEntry)
        .where(
            col(InboxEntry.handled_at).is_(None),
            col(InboxEntry.received_at) <= now - REPLAY_AFTER,
            col(InboxEntry.attempts) < MAX_ATTEMPTS,
        )
        .order_by(col(InboxEntry.id))
        .limit(limit)
    )
    async with sessions() as session:
        entries = list((await session.exec(statement)).all())
    for entry in entries:
        await handle(entry.id, event_of(entry))
    return len(entries)


async def prune(*, sessions: SessionFactory, clock: Clock) -> int:
    """Delete handled entries older than `HANDLED_KEPT`, a bounded batch at a time; how many."""
    old = (
        select(InboxEntry.id)
        .where(
            col(InboxEntry.received_at) < clock.now() - HANDLED_KEPT,
            col(InboxEntry.handled_at).is_not(None),
        )
        .limit(PRUNED_AT_ONCE)
    )
    pruned = 0
    while True:
        async with sessions.begin() as session:
            deleted = (await run_core(session, delete(_TABLE).where(_TABLE.c.id.in_(old)))).rowcount
        pruned += deleted
        if deleted < PRUNED_AT_ONCE:
            return pruned
