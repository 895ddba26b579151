"""Helpers for delivery-engine tests: an enrolled learner, the outbox, a dispatcher."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import Database
from bot.clock import SimulatedClock
from bot.messages import Outbound, OutboundKind
from bot.outbox.dispatcher import Dispatcher
from bot.outbox.pacing import Pacer
from bot.transports.console import ConsoleTransport
from storage.models import Delivery, Enrolment, Person, Team
from storage.outbox import claim_due
from tests.factories import MONDAY_9AM, add_person


async def add_learner(
    session: AsyncSession, name: str = "ada", *, team: Team | None = None, **fields: Any
) -> Person:
    """A console learner enrolled in pack `care` (the pack must exist)."""
    person = await add_person(session, name, team=team, **fields)
    session.add(Enrolment(person_id=person.id, pack_id="care"))
    await session.flush()
    return person


async def notices(
    database: Database, person: Person, *keys: str, due_in: timedelta = timedelta(0)
) -> None:
    """Text messages queued for `person`, due MONDAY_9AM + `due_in`."""
    async with database.sessions() as session:
        session.add_all(
            Delivery(
                person_id=person.id,
                delivery_key=key,
                kind="notice",
                due_at=MONDAY_9AM + due_in,
                payload=Outbound(OutboundKind.NOTICE, f"hello {key}").to_payload(),
            )
            for key in keys
        )
        await session.commit()


async def claimed_rows(session: AsyncSession, **claim: Any) -> list[Delivery]:
    """The rows `claim_due(session, **claim)` claims, loaded in its order."""
    claimed = await claim_due(session, **claim)
    statement = (
        select(Delivery)
        .where(col(Delivery.id).in_(claimed))
        .execution_options(populate_existing=True)
    )
    loaded = {row.id: row for row in (await session.exec(statement)).all()}
    return [loaded[row_id] for row_id in claimed]


async def rows(database: Database, **where: Any) -> list[Delivery]:
    """Outbox rows matching `where` (column=value), in id order."""
    async with database.sessions() as session:
        statement = select(Delivery).order_by(Delivery.id)
        for column, value in where.items():
            statement = statement.where(getattr(Delivery, column) == value)
        return list((await session.exec(statement)).all())


async def by_key(database: Database) -> dict[str, Delivery]:
    """Every outbox row by its key (tests with one learner)."""
    return {row.delivery_key: row for row in await rows(database)}


def dispatcher(
    database: Database,
    clock: SimulatedClock,
    *transports: ConsoleTransport,
    **options: Any,
) -> Dispatcher:
    """A dispatcher on `transports` (default: one plain console) with this clock.

    Each platform is paced as in `run`, or at `per_chat_interval=S` seconds per chat.
    """
    chosen = transports or (ConsoleTransport(),)
    interval = options.pop("per_chat_interval", None)
    options.setdefault(
        "pacers",
        {
            transport.platform: Pacer.for_transport(transport, clock)
            if interval is None
            else Pacer(clock, per_chat_interval=interval)
            for transport in chosen
        },
    )
    return Dispatcher(
        sessions=options.pop("sessions", database.sessions),
        transports={transport.platform: transport for transport in chosen},
        clock=clock,
        **options,
    )


async def run_for(
    send: Dispatcher, clock: SimulatedClock, span: timedelta, *, every: float = 5.0
) -> None:
    """Tick as `run` does, every few seconds of the simulated clock, for `span`."""
    end = clock.now() + span
    while clock.now() < end:
        await send.tick()
        clock.advance(timedelta(seconds=every))


class InterruptedClock(SimulatedClock):
    """A simulated clock that runs `during_next_sleep` once, while a sleeper waits."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.during_next_sleep: Callable[[], Awaitable[object]] | None = None

    async def sleep(self, seconds: float) -> None:
        """Advance, then let the waiting callback run (another process, meanwhile)."""
        await super().sleep(seconds)
        callback, self.during_next_sleep = self.during_next_sleep, None
        if callback is not None:
            await callback()


async def send_until_done(
    send: Dispatcher, clock: SimulatedClock, database: Database, *, limit: timedelta
) -> None:
    """Drain, then let a second of the simulated clock pass, until nothing waits (within `limit`).

    Rows put back after a 5xx or a 429 come due again on the clock, so this ends
    when every row has ended one way or another.
    """
    end = clock.now() + limit
    while await rows(database, status="pending") or await rows(database, status="claimed"):
        assert clock.now() < end, "rows still wait after the time allowed"
        await send.drain()
        clock.advance(timedelta(seconds=1))
