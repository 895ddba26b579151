"""The inbox: an inbound event is stored, in its own short transaction, before it is handled.

Handling it (grading, feedback, scores) happens in a second transaction that
deletes the stored event as it commits, so an event is handled exactly once.
When that fails (a locked or restarted database, a bug), the event stays
stored and `replay` hands it to the router again later: an answer a learner
sent is never lost, it only waits. After `MAX_ATTEMPTS` failures an event is
kept with its last error and no longer retried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from pydantic import TypeAdapter
from sqlalchemy import bindparam, delete, insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.messages import Answer, Blocked, CoachAction, Command, Inbound, Join, PollAnswer, Text
from storage.db import SessionFactory, run_core
from storage.models import InboxEntry

MAX_ATTEMPTS = 5
REPLAY_AFTER = timedelta(seconds=30)  # younger events may still be in their first handling
_KINDS: dict[str, TypeAdapter[Inbound]] = {
    kind.__name__: TypeAdapter(kind)
    for kind in (Answer, PollAnswer, Text, Command, CoachAction, Join, Blocked)
}
_TABLE = InboxEntry.__table__  # type: ignore[attr-defined]  # SQLModel does not declare __table__
# The event comes back with its id: on SQLite, asking the ids in parameter order instead
# would insert one row per statement.
_STORE = insert(_TABLE).returning(_TABLE.c.id, _TABLE.c.event)
_TAKE = delete(_TABLE).where(_TABLE.c.id == bindparam("entry_id"))  # built once: every event


def _stored(inbound: Inbound) -> dict[str, object]:
    """The event as plain JSON values, with its kind."""
    kind = type(inbound).__name__
    return {"kind": kind, "event": _KINDS[kind].dump_python(inbound, mode="json")}


def event_of(entry: InboxEntry) -> Inbound:
    """The event a stored entry holds."""
    return _KINDS[entry.kind].validate_python(entry.event)


async def store_all(session: AsyncSession, inbounds: list[Inbound], *, now: datetime) -> list[int]:
    """Add the events to the inbox in one statement (in the caller's transaction); their ids.

    The events must differ in address or event id.
    """
    params = [{**_stored(inbound), "received_at": now, "attempts": 0} for inbound in inbounds]
    rows = (await run_core(session, _STORE, params)).all()
    ids = {(event["address"], event["event_id"]): entry_id for entry_id, event in rows}
    return [ids[inbound.address, inbound.event_id] for inbound in inbounds]


async def take(session: AsyncSession, entry_id: int) -> bool:
    """Remove the entry in the handling transaction; False if it was handled already."""
    return bool((await run_core(session, _TAKE, {"entry_id": entry_id})).rowcount)


async def take_all(session: AsyncSession, entry_ids: list[int]) -> set[int]:
    """`take` for several entries in one statement; the ids taken (not handled already)."""
    statement = delete(_TABLE).where(_TABLE.c.id.in_(entry_ids)).returning(_TABLE.c.id)
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
