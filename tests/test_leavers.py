"""Nobody who left, stopped, was forgotten or paused gets lessons, however late the change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date

import pytest

import bot.outbox.planner as planner
from bot.admin.roster import RosterRow
from bot.admin.roster_import import PersonDefaults, import_roster
from bot.clock import SimulatedClock
from bot.coaching.pauses import OPEN_ENDED
from bot.conversation.router import InboundRouter
from bot.messages import Outbound, OutboundKind, Text
from bot.outbox.dispatcher import LEFT, PAUSED
from bot.outbox.planner import plan_tick
from bot.transports.console import ConsoleTransport
from storage.models import Delivery, DeliveryStatus, PersonStatus
from tests.delivery_support import InterruptedClock, add_learner, dispatcher, rows
from tests.factories import MONDAY_9AM, add_pack, add_team

ADA = "console:ada"
DAY_KINDS = {OutboundKind.LESSON, OutboundKind.QUIZ, OutboundKind.REFLECTION}

Change = Callable[[object, SimulatedClock], Awaitable[object]]


async def team_of_two(database) -> int:
    """Ada and Bea on team `front`, a one-lesson pack with a quiz and a reflection; Ada's id."""
    async with database.sessions() as session:
        await add_pack(session, types=("single",))
        front = await add_team(session, "front")
        ada = await add_learner(session, "ada", team=front)
        await add_learner(session, "bea", team=front)
        await session.commit()
    return ada.id


def says(text: str) -> Change:
    """Ada sends `text` to the bot."""

    async def change(database, clock: SimulatedClock) -> None:
        service = InboundRouter(sessions=database.sessions, clock=clock)
        await service.handle(Text(ADA, f"e-{text}", text))

    return change


async def roster_sync_without_ada(database, clock: SimulatedClock) -> None:
    """`roster import --sync` of team front's file, which no longer lists Ada."""
    bea = RosterRow(2, "bea", "front", "console", "bea", None, None, None, None, None)
    async with database.sessions.begin() as session:
        await import_roster(
            session,
            [bea],
            source="front.csv",
            defaults=PersonDefaults(timezone="Europe/London", send_time="09:00"),
            sync=True,
            now=clock.now(),
        )


async def test_rows_claimed_before_a_roster_sync_removes_the_learner_are_not_sent(database):
    ada_id = await team_of_two(database)
    clock = InterruptedClock(MONDAY_9AM)
    await plan_tick(sessions=database.sessions, clock=clock)
    console = ConsoleTransport()

    async def removed() -> None:
        await roster_sync_without_ada(database, clock)

    clock.during_next_sleep = removed  # her lesson is out, her quiz is claimed and waiting
    await dispatcher(database, clock, console).tick()

    assert [m.kind for m in console.to(ADA)] == [OutboundKind.LESSON]
    assert len(console.to("console:bea")) == 3
    ada_rows = await rows(database, person_id=ada_id)
    assert [(row.kind, row.status, row.reason) for row in ada_rows] == [
        ("lesson", DeliveryStatus.SENT, None),
        ("quiz", DeliveryStatus.CANCELLED, LEFT),
        ("reflection", DeliveryStatus.CANCELLED, LEFT),
    ]


@pytest.mark.parametrize(
    ("change", "skipped"),
    [
        (roster_sync_without_ada, "inactive"),
        (says("stop"), "inactive"),
        (says("forget yes"), "forgotten"),
        (says("pause"), "paused"),
        (says("pause until 2026-12-07"), "paused"),
    ],
    ids=["roster-sync", "stop", "forget", "pause", "pause-until"],
)
async def test_a_learner_who_leaves_or_pauses_while_the_planner_runs_gets_nothing(
    database, monkeypatch, change: Change, skipped: str
):
    ada_id = await team_of_two(database)
    clock = SimulatedClock(MONDAY_9AM)
    read_learners = planner._learners

    async def learners_then_change(*args, **kwargs):
        found = await read_learners(*args, **kwargs)
        await change(database, clock)  # after the planner's read, before its insert
        return found

    monkeypatch.setattr(planner, "_learners", learners_then_change)
    result = await plan_tick(sessions=database.sessions, clock=clock)
    console = ConsoleTransport()
    await dispatcher(database, clock, console).drain()

    assert result.planned == ["bea"]
    assert result.skipped[skipped] == 1
    assert [row for row in await rows(database, person_id=ada_id) if row.local_date] == []
    assert not {m.kind for m in console.to(ADA)} & DAY_KINDS


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"status": PersonStatus.INACTIVE}, LEFT),
        ({"paused_until": OPEN_ENDED}, PAUSED),
        ({"paused_until": date(2026, 12, 7)}, PAUSED),
    ],
    ids=["inactive", "paused", "paused-until"],
)
async def test_a_lesson_found_in_the_outbox_of_someone_who_left_or_paused_is_not_sent(
    database, fields: dict[str, object], reason: str
):
    async with database.sessions() as session:
        [lesson] = await add_pack(session, types=())
        ada = await add_learner(session, **fields)
        monday = MONDAY_9AM.date()
        session.add_all(
            [
                Delivery(
                    person_id=ada.id,
                    delivery_key=f"lesson:{monday}",
                    kind="lesson",
                    local_date=monday,
                    lesson_id=lesson.id,
                    due_at=MONDAY_9AM,
                ),
                Delivery(
                    person_id=ada.id,
                    delivery_key="reply:e1",
                    kind="notice",
                    due_at=MONDAY_9AM,
                    payload=Outbound(OutboundKind.NOTICE, "Noted.").to_payload(),
                ),
            ]
        )
        await session.commit()
    console = ConsoleTransport()

    await dispatcher(database, SimulatedClock(MONDAY_9AM), console).tick()

    assert [m.text for m in console.to(ADA)] == ["Noted."]  # the reply to what she wrote
    [row] = await rows(database, kind="lesson")
    assert (row.status, row.reason) == (DeliveryStatus.CANCELLED, reason)
