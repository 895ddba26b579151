"""What sending costs the database: edits find their message with the claim, messages
sent at the same moment are recorded together, and only the load of each claim goes
through the ORM."""

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlmodel import func, select

from bot.clock import SimulatedClock
from bot.transports.console import ConsoleTransport
from storage.models import Delivery, DeliveryKind, DeliveryStatus, Person
from tests.delivery_support import dispatcher, notices, rows
from tests.factories import MONDAY_9AM, add_person
from tests.test_answer_cost import counted, learners_with_open_quizzes, press

LEARNERS = 8
PER_DRAIN = 7


async def test_edits_after_answers_cost_no_statement_of_their_own(database):
    router, prompts = await learners_with_open_quizzes(database, LEARNERS)
    await asyncio.gather(*(router.handle(press(p, d, "c1")) for p, d in prompts))
    sender = dispatcher(database, SimulatedClock(MONDAY_9AM + timedelta(hours=1)))
    with counted(database) as seen:
        result = await sender.drain()
    async with database.sessions() as session:
        edits = select(func.count(Delivery.id)).where(
            Delivery.kind == DeliveryKind.EDIT, Delivery.status == DeliveryStatus.SENT
        )
        assert (await session.exec(edits)).one() == LEARNERS
    assert result.sent == 2 * LEARNERS  # each answer's feedback, and its quiz's edit
    # One record per message, and a few statements for the whole drain (the claim, what
    # the rows need, the claim checks): finding where each edit goes costs nothing more.
    assert seen["statements"] <= result.sent + PER_DRAIN


class AllAtOnce(ConsoleTransport):
    """A console whose sends are all answered at once, when `count` of them are on their way."""

    def __init__(self, count: int) -> None:
        super().__init__(write=None)
        self._started = asyncio.Barrier(count)

    async def send(self, address, outbound):
        """Wait for the other sends, then answer."""
        await self._started.wait()
        return await super().send(address, outbound)


@contextmanager
def marked_sent(database) -> Iterator[list[str]]:
    """The statements run on `database` that mark rows sent, while the block runs."""
    seen: list[str] = []
    engine = database.engine.sync_engine

    def statement(_connection, _cursor, sql: str, *_: object) -> None:
        if sql.startswith("UPDATE delivery") and "sent_at" in sql:
            seen.append(sql)

    with listening(engine, "before_cursor_execute", statement):
        yield seen


@contextmanager
def listening(target: Any, name: str, listener: Callable[..., None]) -> Iterator[None]:
    """`listener` hears SQLAlchemy event `name` of `target` while the block runs."""
    event.listen(target, name, listener)
    try:
        yield
    finally:
        event.remove(target, name, listener)


async def learners_with(database, *keys: str) -> list[Person]:
    """`LEARNERS` people, each with a notice per key due now."""
    async with database.sessions() as session:
        people = [await add_person(session, f"p{n}") for n in range(LEARNERS)]
        await session.commit()
    for person in people:
        await notices(database, person, *keys)
    return people


async def test_messages_answered_at_the_same_moment_are_recorded_in_one_statement(database):
    people = await learners_with(database, "hello")
    console = AllAtOnce(LEARNERS)
    sender = dispatcher(database, SimulatedClock(MONDAY_9AM), console, in_flight=LEARNERS)
    with marked_sent(database) as statements:
        result = await sender.drain()
    assert result.sent == LEARNERS
    address = {person.id: person.address for person in people}
    recorded = {(address[r.person_id], r.status, r.platform_ref) for r in await rows(database)}
    assert recorded == {
        (m.ref.address, DeliveryStatus.SENT, m.ref.message_id) for m in console.sent
    }
    # The first answer is recorded at once; the others, which came meanwhile, together.
    assert len(statements) <= 2


@contextmanager
def through_the_orm(database) -> Iterator[list[str]]:
    """The statements run through a session's ORM layer (not straight on its connection)."""
    seen: list[str] = []
    sync_session = database.sessions.class_.sync_session_class

    def statement(state) -> None:
        seen.append(str(state.statement).split()[0])

    with listening(sync_session, "do_orm_execute", statement):
        yield seen


async def test_sending_runs_only_each_claims_load_through_the_orm(database):
    await learners_with(database, "hello", "again")
    sender = dispatcher(database, SimulatedClock(MONDAY_9AM), batch=LEARNERS)
    with through_the_orm(database) as statements:
        result = await sender.drain()
    assert result.sent == 2 * LEARNERS
    # Two claims found rows, and one found none: the claims, claim checks and records of
    # outcomes run on the connection, without the ORM's per-statement and per-row work.
    assert statements == ["SELECT", "SELECT"]


async def test_a_long_batch_renews_its_claims_only_while_they_are_still_its_own(database):
    await learners_with(database, *(f"n{n}" for n in range(12)))
    renewals: list[str] = []

    def statement(_connection, _cursor, sql: str, *_: object) -> None:
        if sql.startswith("UPDATE delivery SET claimed_at"):
            renewals.append(" ".join(sql.split()))

    # Each chat sends a message a second: the batch outlasts half the stale time.
    sender = dispatcher(database, SimulatedClock(MONDAY_9AM), stale_after=timedelta(seconds=6))
    with listening(database.engine.sync_engine, "before_cursor_execute", statement):
        result = await sender.drain()
    assert result.sent == 12 * LEARNERS
    assert renewals  # the later rows' claims were renewed before their sends
    assert all("claimed_by" in renewal for renewal in renewals)
