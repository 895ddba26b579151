"""Commitments: the lesson ends with one thing to try; working days later the learner is asked."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError
from sqlalchemy import event
from sqlmodel import select

from bot.admin.privacy import export_person
from bot.clock import SimulatedClock
from bot.coaching.pauses import pause_person
from bot.coaching.policy import TeamPolicy
from bot.conversation.router import InboundRouter
from bot.messages import Text
from bot.outbox.planner import plan_tick
from bot.outbox.render import render
from bot.transports.console import ConsoleTransport
from storage.models import Delivery, DeliveryKind, DeliveryStatus, Lesson, Person, Reflection
from tests.delivery_support import add_learner, by_key, dispatcher, rows
from tests.factories import add_pack, add_team, outbox, send

COMMITMENT = {
    "try": "Next shift, answer with your name and your team.",
    "follow_up": "Did you answer with your name and team? How did callers react?",
}
THURSDAY = date(2026, 11, 26)
FRIDAY, MONDAY, TUESDAY = date(2026, 11, 27), date(2026, 11, 30), date(2026, 12, 1)


async def learner_who_had_lesson_1(database, *, sent_on: date, **team_fields) -> Person:
    """A learner of pack `care` (lesson L1 with a commitment) who received L1 on `sent_on`."""
    async with database.sessions() as session:
        team = await add_team(session, **team_fields)
        lessons = await add_pack(session, lessons=3)
        lessons[0].commitment = COMMITMENT
        ada = await add_learner(session, team=team)
        await send(
            session, ada, kind="lesson", day=sent_on, sent_at=at(sent_on), lesson_id=lessons[0].id
        )
        await session.commit()
    return ada


def at(day: date) -> datetime:
    """9:00 UTC on `day`: the learners' send time (Europe/London is UTC in winter)."""
    return datetime(day.year, day.month, day.day, 9, tzinfo=UTC)


async def plan_on(database, day: date) -> None:
    """The plan tick at the learner's send time on `day`."""
    await plan_tick(sessions=database.sessions, clock=SimulatedClock(at(day)))


async def follow_ups(database) -> list[Delivery]:
    """Every follow-up row."""
    return await rows(database, kind=DeliveryKind.FOLLOW_UP)


async def test_the_follow_up_comes_on_the_second_working_day_at_the_send_time(database):
    await learner_who_had_lesson_1(database, sent_on=THURSDAY)

    await plan_on(database, FRIDAY)
    assert await follow_ups(database) == []

    await plan_on(database, MONDAY)  # the weekend is not working days
    [row] = await follow_ups(database)
    assert (row.delivery_key, row.local_date, row.due_at) == (
        "follow_up:2026-11-30:L1",
        MONDAY,
        at(MONDAY),
    )

    await plan_on(database, TUESDAY)
    assert len(await follow_ups(database)) == 1


async def test_public_holidays_are_skipped_too(database):
    christmas_eve = date(2026, 12, 24)  # then Christmas Day, a weekend, and Boxing Day observed
    await learner_who_had_lesson_1(database, sent_on=christmas_eve, holidays_country="GB")

    for day in (date(2026, 12, 28), date(2026, 12, 29)):
        await plan_on(database, day)
    assert await follow_ups(database) == []

    await plan_on(database, date(2026, 12, 30))
    assert [row.local_date for row in await follow_ups(database)] == [date(2026, 12, 30)]


async def test_a_team_may_ask_after_three_working_days(database):
    await learner_who_had_lesson_1(database, sent_on=THURSDAY, policy={"follow_up_working_days": 3})

    await plan_on(database, MONDAY)
    assert await follow_ups(database) == []
    await plan_on(database, TUESDAY)
    assert [row.local_date for row in await follow_ups(database)] == [TUESDAY]


@pytest.mark.parametrize("days", [1, 4])
def test_the_follow_up_setting_allows_two_or_three_working_days(days: int):
    with pytest.raises(ValidationError, match="follow_up_working_days"):
        TeamPolicy(follow_up_working_days=days)


async def test_the_lesson_ends_with_the_commitment_and_the_follow_up_names_it(database):
    await learner_who_had_lesson_1(database, sent_on=THURSDAY)
    await plan_on(database, MONDAY)
    keys = await by_key(database)
    async with database.sessions() as session:
        shown = await render(session, keys["follow_up:2026-11-30:L1"])
        today = await render(session, keys["lesson:2026-11-30"])
        sent = (await session.exec(select(Delivery).where(Delivery.kind == "lesson"))).first()
        assert sent is not None
        first = await render(session, sent)

    assert first.sections[-1] == (
        "🎯 *Try this:* Next shift, answer with your name and your team.",
    )
    assert "Try this" not in today.text  # lesson 2 has no commitment
    assert "Lesson 1" in shown.text and COMMITMENT["try"] in shown.text
    assert shown.text.count(COMMITMENT["follow_up"]) == 1
    assert list(keys).index("follow_up:2026-11-30:L1") > list(keys).index("lesson:2026-11-30")


async def asked_on_monday(database) -> tuple[Person, InboundRouter]:
    """A learner who had lesson 1 on Thursday and got Monday's rows; the router they write to."""
    ada = await learner_who_had_lesson_1(database, sent_on=THURSDAY)
    clock = SimulatedClock(at(MONDAY))
    await plan_on(database, MONDAY)
    await dispatcher(database, clock).tick()
    return ada, InboundRouter(sessions=database.sessions, clock=clock)


async def test_the_answer_is_kept_as_a_reflection_on_the_lesson(database):
    ada, router = await asked_on_monday(database)

    await router.handle(Text("console:ada", "e1", "I did, and two callers thanked me."))
    await router.handle(Text("console:ada", "e2", "Reflection on lesson 2."))

    async with database.sessions() as session:
        reflections = (await session.exec(select(Reflection).order_by(Reflection.id))).all()
        lesson = (await session.exec(select(Lesson).where(Lesson.key == "L1"))).one()
        follow_up = (await follow_ups(database))[0]
        replies = await outbox(session, ada)
    assert (reflections[0].text, reflections[0].lesson_id) == (
        "I did, and two callers thanked me.",
        lesson.id,
    )
    assert reflections[0].delivery_id == follow_up.id
    assert replies["reply:e1"].startswith("📝 Thanks, your reflection is saved.")
    assert reflections[1].text == "Reflection on lesson 2."


async def test_a_learner_paused_on_the_day_is_not_asked_then_or_later(database):
    ada = await learner_who_had_lesson_1(database, sent_on=THURSDAY)
    async with database.sessions() as session:
        person = await session.get(Person, ada.id)
        assert person is not None
        await pause_person(session, person=person, until=TUESDAY, now=at(FRIDAY))
        await session.commit()

    await plan_on(database, MONDAY)
    await plan_on(database, TUESDAY)

    assert await follow_ups(database) == []


async def test_a_follow_up_planned_before_a_pause_is_never_sent(database):
    ada = await learner_who_had_lesson_1(database, sent_on=THURSDAY)
    clock = SimulatedClock(at(MONDAY))
    await plan_on(database, MONDAY)
    async with database.sessions() as session:
        person = await session.get(Person, ada.id)
        assert person is not None
        person.paused_until = TUESDAY  # paused by another process after planning
        session.add(person)
        await session.commit()
    console = ConsoleTransport()

    await dispatcher(database, clock, console).tick()

    [row] = await follow_ups(database)
    assert row.status != DeliveryStatus.SENT
    assert console.sent == []


async def test_no_follow_up_for_a_lesson_that_never_arrived(database):
    async with database.sessions() as session:
        lessons = await add_pack(session, lessons=2)
        lessons[0].commitment = COMMITMENT
        ada = await add_learner(session)
        missed = await send(
            session, ada, kind="lesson", day=THURSDAY, sent_at=at(THURSDAY), lesson_id=lessons[0].id
        )
        missed.status = DeliveryStatus.CANCELLED
        await session.commit()

    await plan_on(database, MONDAY)

    assert await follow_ups(database) == []


async def test_progress_and_export_show_the_follow_ups(database):
    ada, router = await asked_on_monday(database)
    await router.handle(Text("console:ada", "e0", "progress"))
    await router.handle(Text("console:ada", "e1", "I tried it twice, it went well."))
    await router.handle(Text("console:ada", "e2", "Lesson 2 made me think."))
    await router.handle(Text("console:ada", "e3", "progress"))
    async with database.sessions() as session:
        replies = await outbox(session, ada)
        person = await session.get(Person, ada.id)
        assert person is not None
        exported = await export_person(session, person)

    assert "🎯 Commitments: you told me how 0 of 1 went" in replies["reply:e0"]
    assert "🎯 Commitments: you told me how 1 of 1 went" in replies["reply:e3"]
    assert [(r["lesson"], r["answering"], r["text"]) for r in exported["reflections"]] == [
        ("L1", "follow_up", "I tried it twice, it went well."),
        ("L2", "reflection", "Lesson 2 made me think."),
    ]


async def test_one_tick_asks_once_which_lessons_to_follow_up_for_all_its_learners(database):
    async with database.sessions() as session:
        team = await add_team(session)
        lessons = await add_pack(session, lessons=3)
        lessons[0].commitment = COMMITMENT
        people = [await add_learner(session, team=team, name=f"p{n}") for n in range(6)]
        for person in people:
            await send(
                session, person, kind="lesson", day=THURSDAY, sent_at=at(THURSDAY),
                lesson_id=lessons[0].id,
            )  # fmt: skip
        await session.commit()
    asked: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "commitment IS NOT NULL" in statement:
            asked.append(statement)

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        await plan_on(database, MONDAY)
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    assert sorted(row.person_id for row in await follow_ups(database)) == sorted(
        person.id for person in people
    )
    assert len(asked) == 1  # one query for the batch, not one per learner
