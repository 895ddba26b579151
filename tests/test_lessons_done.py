""" "Lessons done" is one number: `report`, `learner show` and `learner export` agree."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta

from sqlmodel import select

from bot.app import Database
from bot.clock import SimulatedClock
from bot.conversation.router import InboundRouter
from bot.messages import Text
from storage.db import create_engine, session_factory
from storage.models import Delivery, DeliveryStatus, Enrolment, Item
from tests.delivery_support import dispatcher
from tests.factories import add_pack, add_person, add_team, send

TUESDAY_10AM = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


async def _lesson_with_quiz(session, sam, lesson, day: date) -> None:
    """The lesson and its quiz sent on `day` at 09:00 (the quiz left unanswered)."""
    at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
    await send(session, sam, kind="lesson", day=day, sent_at=at, lesson_id=lesson.id)
    for item in (await session.exec(select(Item).where(Item.lesson_id == lesson.id))).all():
        await send(session, sam, kind="quiz", day=day, sent_at=at, item=item)


async def _seed(database_url: str) -> None:
    """Sam: a lesson of an old pack, then in `care` L1 (quiz unanswered), L2 (re-sent with
    `today`), L3 (sent, then retired from the pack) and L4 (planned, not sent yet)."""
    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)
        async with sessions() as session:
            team = await add_team(session, "front")
            sam = await add_person(session, "sam", team=team)
            [old] = await add_pack(session, "old")
            care = await add_pack(session, "care", lessons=4)
            session.add(Enrolment(person_id=sam.id, pack_id="old", active=False))
            session.add(Enrolment(person_id=sam.id, pack_id="care"))
            await _lesson_with_quiz(session, sam, old, date(2026, 11, 16))
            await _lesson_with_quiz(session, sam, care[2], date(2026, 11, 20))
            await _lesson_with_quiz(session, sam, care[0], date(2026, 11, 23))
            await _lesson_with_quiz(session, sam, care[1], date(2026, 11, 24))
            care[2].retired = True
            session.add(care[2])
            session.add(
                Delivery(
                    person_id=sam.id,
                    delivery_key="lesson:2026-11-25",
                    kind="lesson",
                    local_date=date(2026, 11, 25),
                    due_at=TUESDAY_10AM + timedelta(hours=23),
                    lesson_id=care[3].id,
                )
            )
            await session.commit()
        clock = SimulatedClock(TUESDAY_10AM)
        await InboundRouter(sessions=sessions, clock=clock).handle(Text(sam.address, "e1", "today"))
        database = Database(engine=engine, sessions=sessions)
        await dispatcher(database, clock, per_chat_interval=0).tick()
        async with sessions() as session:
            resent = (
                await session.exec(
                    select(Delivery).where(Delivery.delivery_key == "lesson:2026-11-24:again:1")
                )
            ).one()
            assert (resent.status, resent.sent_at) == (DeliveryStatus.SENT, TUESDAY_10AM)
    finally:
        await engine.dispose()


def test_report_learner_show_and_export_count_the_same_lessons(cli, database, database_url):
    asyncio.run(_seed(database_url))

    (row,) = json.loads(cli("report", "--json").stdout)["learners"]
    shown = cli("learner", "show", "sam").stdout
    exported = json.loads(cli("learner", "export", "sam").stdout)

    assert (row["lessons_done"], row["lessons_total"], row["progress"]) == (2, 3, "2/3")
    assert "Lessons: 2/3 " in shown
    done = {e["pack_id"]: e["lessons_done"] for e in exported["enrolments"]}
    assert done == {"care": 2, "old": 1}
