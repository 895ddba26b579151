"""Transport errors and pacing decided once: bad requests fail at once, senders share a
platform's pace, an answer wakes the dispatcher, and `run`'s parts start and stop in app.py."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from sqlmodel import select

from bot.app import build_runtime, serve
from bot.clock import SimulatedClock
from bot.config import Settings
from bot.messages import Answer, OutboundKind
from bot.outbox.pacing import Pacer
from bot.transports import PermanentError
from bot.transports.console import ConsoleTransport
from storage.models import DeliveryStatus, Item, Person, PersonStatus
from tests.delivery_support import by_key, dispatcher, notices, rows
from tests.factories import MONDAY_9AM, add_pack, add_person, send
from tests.fakes.flaky_transport import FlakyTransport

ADA = "console:ada"


async def test_a_bad_request_fails_its_row_at_once_and_the_learner_stays_reachable(
    database, caplog
):
    async with database.sessions() as session:
        ada = await add_person(session, "ada")
        await session.commit()
    await notices(database, ada, "too-long", "fine")
    clock = SimulatedClock(MONDAY_9AM)
    console = FlakyTransport()
    console.fail_next(ADA, PermanentError("400 msg_too_long"))
    send = dispatcher(database, clock, console)

    await send.tick()
    clock.advance(timedelta(hours=1))
    await send.tick()  # nothing is retried

    outcome = await by_key(database)
    assert (outcome["too-long"].status, outcome["too-long"].attempts) == (DeliveryStatus.FAILED, 1)
    assert outcome["too-long"].reason == "rejected by console: 400 msg_too_long"
    assert outcome["fine"].status == DeliveryStatus.SENT
    assert console.attempts == [ADA, ADA]
    async with database.sessions() as session:
        assert (await session.get(Person, ada.id)).status == PersonStatus.ACTIVE
    assert f"delivery {outcome['too-long'].id} to ada failed" in caplog.text
    assert "crashed" not in caplog.text  # a rejection, not a transport bug


class RecordingPacer(Pacer):
    """A pacer that keeps the turns it booked, by chat."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.turns: dict[str, list[float]] = {}

    def book(self, chat):
        """Book as a pacer does, and keep the turn (seconds after 09:00)."""
        turn = super().book(chat)
        self.turns.setdefault(chat, []).append((turn - MONDAY_9AM).total_seconds())
        return turn


async def test_two_senders_sharing_a_pacer_keep_the_per_chat_and_the_global_pace(database):
    async with database.sessions() as session:
        ada, bea = [await add_person(session, name) for name in ("ada", "bea")]
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM)
    pacer = RecordingPacer(clock, interval=0.25, per_chat_interval=1.0)
    first, second = (
        dispatcher(database, clock, ConsoleTransport(), worker=name, pacers={"console": pacer})
        for name in ("first", "second")
    )

    await notices(database, ada, "ada-1")
    await notices(database, bea, "bea-1")
    await first.tick()
    await notices(database, ada, "ada-2")
    await notices(database, bea, "bea-2")
    await second.tick()

    assert {row.status for row in await rows(database)} == {DeliveryStatus.SENT}
    assert pacer.turns == {ADA: [0.0, 1.0], "console:bea": [0.25, 1.25]}


def test_a_chat_waiting_for_its_own_second_does_not_hold_back_the_other_chats():
    clock = SimulatedClock(MONDAY_9AM)
    pacer = RecordingPacer(clock, interval=0.25, per_chat_interval=1.0)

    for chat in ("ada", "ada", "bea", "cy", "bea"):
        pacer.book(chat)

    # ada's second turn is a second after her first; bea and cy take the slots before it
    assert pacer.turns == {"ada": [0.0, 1.0], "bea": [0.25, 1.25], "cy": [0.5]}


class TellingConsole(ConsoleTransport):
    """A console that says when it has sent something."""

    def __init__(self) -> None:
        super().__init__()
        self.sent_one = asyncio.Event()
        self.edited_one = asyncio.Event()
        self.senders: list[asyncio.Task[object] | None] = []  # the task each send ran in

    async def send(self, address, outbound):
        """Send, then tell."""
        self.senders.append(asyncio.current_task())
        ref = await super().send(address, outbound)
        self.sent_one.set()
        return ref

    async def edit(self, ref, outbound):
        """Edit, then tell."""
        await super().edit(ref, outbound)
        self.edited_one.set()


async def test_an_answer_wakes_the_dispatcher_and_its_feedback_goes_without_a_tick(database):
    async with database.sessions() as session:
        ada = await add_person(session, "ada")
        [lesson] = await add_pack(session)
        item = (await session.exec(select(Item).where(Item.lesson_id == lesson.id))).one()
        quiz = await send(
            session, ada, kind="quiz", day=MONDAY_9AM.date(), sent_at=MONDAY_9AM, item=item
        )
        await session.commit()
    console = TellingConsole()
    runtime = build_runtime(
        database=database,
        settings=Settings(),
        clock=SimulatedClock(MONDAY_9AM + timedelta(minutes=5)),
        transports={"console": console},
    )
    sending = asyncio.create_task(runtime.dispatcher.run())

    await runtime.service.handle(Answer(ADA, "e1", quiz.id, ("c2",)))
    await asyncio.wait_for(console.sent_one.wait(), timeout=60)
    await asyncio.wait_for(console.edited_one.wait(), timeout=60)  # the quiz shows its verdict
    # The inbound handler only woke the dispatcher: the feedback went from the dispatcher's
    # own tasks, not from the task that handled the answer.
    assert len(console.senders) == 1 and asyncio.current_task() not in console.senders

    assert [outbound.kind for outbound in console.to(ADA)] == [OutboundKind.FEEDBACK]
    assert await runtime.dispatcher.stop() == 0
    await asyncio.wait_for(sending, timeout=60)
    [feedback] = await rows(database, kind="feedback")
    assert feedback.status == DeliveryStatus.SENT


async def test_serve_starts_everything_and_stops_when_told(database, database_url):
    # `database` empties the tables (PostgreSQL keeps one database for the session).
    said: list[str] = []
    stop = asyncio.Event()

    def say(line: str) -> None:
        said.append(line)
        stop.set()  # stop as soon as it says it runs

    await asyncio.wait_for(
        serve(Settings(database_url=database_url, http_port=0), say=say, stop=stop), 60
    )

    assert len(said) == 2
    assert re.fullmatch(
        r"servicecoach running on console; health at http://127\.0\.0\.1:\d+/healthz; "
        r"Ctrl\+C stops it",
        said[0],
    )
    assert said[1:] == [
        "servicecoach stopped (0 unsent message(s) put back in the queue)",
    ]
