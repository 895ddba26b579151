"""The plan tick: what a learner gets on a day, for whom, once, and never a backlog."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from fsrs import Card
from sqlmodel import select, update

from bot.clock import SimulatedClock
from bot.coaching.pauses import pause_person, resume_person
from bot.coaching.policy import TeamPolicy
from bot.outbox.planner import plan_tick
from bot.transports.console import ConsoleTransport
from storage.db import create_engine, session_factory
from storage.models import (
    Delivery,
    DeliveryStatus,
    Enrolment,
    Item,
    Lesson,
    PersonStatus,
    ReviewState,
    Role,
)
from tests.delivery_support import add_learner, by_key, dispatcher, rows
from tests.factories import MONDAY_9AM, add_pack, add_person, add_team, record_review, send

MONDAY = MONDAY_9AM.date()  # 2026-11-23; Europe/London is on UTC, so 9:00 local = 9:00 UTC


async def plan(database, clock: SimulatedClock, **options):
    """One plan tick."""
    return await plan_tick(sessions=database.sessions, clock=clock, **options)


async def items_by_key(session) -> dict[str, Item]:
    """Every item by its key."""
    return {item.key: item for item in (await session.exec(select(Item))).all()}


async def review(session, person, item: Item, due_in: timedelta) -> ReviewState:
    """A review state for `item` (a real FSRS card), due MONDAY_9AM + `due_in`."""
    due = MONDAY_9AM + due_in
    card = Card(card_id=item.id, due=due)
    state = ReviewState(person_id=person.id, item_id=item.id, due=due, card=card.to_dict())
    session.add(state)
    await session.flush()
    return state


async def test_a_day_is_the_next_lesson_its_quiz_due_reviews_and_a_reflection(database):
    async with database.sessions() as session:
        lessons = await add_pack(session, lessons=3, types=("single", "true_false"))
        ada = await add_learner(session)
        friday = MONDAY - timedelta(days=3)
        await send(
            session,
            ada,
            kind="lesson",
            day=friday,
            sent_at=MONDAY_9AM - timedelta(days=3),
            lesson_id=lessons[0].id,
        )
        items = await items_by_key(session)
        await review(session, ada, items["L1-single"], -timedelta(days=3))
        await review(session, ada, items["L1-true_false"], -timedelta(days=1))
        await review(session, ada, items["L3-true_false"], -timedelta(days=2))
        await review(session, ada, items["L2-single"], -timedelta(days=5))  # in today's quiz
        await review(session, ada, items["L3-single"], timedelta(days=1))  # due tomorrow
        await session.commit()

    result = await plan(database, SimulatedClock(MONDAY_9AM))

    assert result.planned == ["ada"]
    today = [row for row in await rows(database) if row.local_date == MONDAY]
    assert [row.delivery_key for row in today] == [
        "lesson:2026-11-23",
        "quiz:2026-11-23:L2-single",
        "quiz:2026-11-23:L2-true_false",
        "review:2026-11-23:L1-single",  # most overdue first, capped at 2 (team default)
        "review:2026-11-23:L3-true_false",
        "reflection:2026-11-23",
    ]
    assert [row.kind for row in today] == [
        "lesson",
        "quiz",
        "quiz",
        "review",
        "review",
        "reflection",
    ]
    assert {row.due_at for row in today} == {MONDAY_9AM}
    assert today[0].lesson_id == lessons[1].id
    assert today[-1].lesson_id == lessons[1].id


async def test_an_item_fsrs_schedules_for_tomorrow_is_in_tomorrows_plan(database):
    async with database.sessions() as session:
        lessons = await add_pack(session, lessons=3, types=("single",))
        ada = await add_learner(session)
        await send(
            session, ada, kind="lesson", day=MONDAY, sent_at=MONDAY_9AM, lesson_id=lessons[0].id
        )
        items = await items_by_key(session)
        answered = MONDAY_9AM + timedelta(minutes=20)  # after Monday's 09:00 plan
        state = await record_review(
            session,
            person_id=ada.id,
            item_id=items["L1-single"].id,
            correct=False,
            late=False,
            now=answered,
            policy=TeamPolicy(),
        )
        await session.commit()
    assert state.due == answered + timedelta(days=1)  # 09:20 on Tuesday

    result = await plan(database, SimulatedClock(MONDAY_9AM + timedelta(days=1)))

    assert result.planned == ["ada"]
    tuesday = {row.delivery_key for row in await rows(database)}
    assert "review:2026-11-24:L1-single" in tuesday


async def test_quiz_items_follow_their_position_and_retired_content_is_skipped(database):
    async with database.sessions() as session:
        lessons = await add_pack(session, lessons=2, types=("single", "true_false", "short"))
        lessons[0].retired = True
        items = await items_by_key(session)
        items["L2-single"].position = 9
        items["L2-short"].retired = True
        await add_learner(session)
        await session.commit()
    await plan(database, SimulatedClock(MONDAY_9AM))
    assert [row.delivery_key for row in await rows(database, kind="quiz")] == [
        "quiz:2026-11-23:L2-true_false",
        "quiz:2026-11-23:L2-single",
    ]


async def test_the_team_review_cap_limits_reviews(database):
    async with database.sessions() as session:
        await add_pack(session, lessons=3)
        team = await add_team(session, policy={"review_cap": 1})
        ada = await add_learner(session, team=team)
        items = await items_by_key(session)
        await review(session, ada, items["L2-single"], -timedelta(days=1))
        await review(session, ada, items["L3-single"], -timedelta(days=2))
        await session.commit()
    await plan(database, SimulatedClock(MONDAY_9AM))
    assert [row.delivery_key for row in await rows(database, kind="review")] == [
        "review:2026-11-23:L3-single"
    ]


async def test_a_learner_who_finished_the_pack_gets_reviews_only(database):
    async with database.sessions() as session:
        [lesson] = await add_pack(session, lessons=1)
        ada = await add_learner(session)
        await send(
            session,
            ada,
            kind="lesson",
            day=MONDAY - timedelta(days=1),
            sent_at=MONDAY_9AM - timedelta(days=1),
            lesson_id=lesson.id,
        )
        items = await items_by_key(session)
        await review(session, ada, items["L1-single"], -timedelta(hours=1))
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM)
    await plan(database, clock)
    assert [row.delivery_key for row in await rows(database, local_date=MONDAY)] == [
        "review:2026-11-23:L1-single"
    ]
    async with database.sessions() as session:
        assert (await session.exec(select(Enrolment))).one().finished_at == MONDAY_9AM
    # Ada answers it, so on Tuesday nothing is due: no rows at all.
    async with database.sessions() as session:
        state = (await session.exec(select(ReviewState))).one()
        state.due = MONDAY_9AM + timedelta(days=7)
        session.add(state)
        await session.commit()
    clock.advance(timedelta(days=1))
    result = await plan(database, clock)
    assert result.planned == []
    assert await rows(database, local_date=MONDAY + timedelta(days=1)) == []


async def test_planning_twice_adds_nothing(database):
    async with database.sessions() as session:
        await add_pack(session, lessons=2, types=("single", "true_false"))
        await add_learner(session)
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM)
    await plan(database, clock)
    first = await by_key(database)
    clock.advance(timedelta(hours=5))
    again = await plan(database, clock)
    assert again.planned == [] and again.rows == 0
    assert await by_key(database) == first


async def test_two_planners_in_two_processes_plan_each_learner_once(database, database_url):
    async with database.sessions() as session:
        await add_pack(session, lessons=2, types=("single",))
        for number in range(20):
            await add_learner(session, f"learner{number}")
        await session.commit()
    engines = [create_engine(database_url) for _ in range(2)]
    clock = SimulatedClock(MONDAY_9AM)
    try:
        results = await asyncio.gather(
            *(plan_tick(sessions=session_factory(engine), clock=clock) for engine in engines)
        )
    finally:
        for engine in engines:
            await engine.dispose()
    planned = [name for result in results for name in result.planned]
    assert sorted(planned) == sorted(f"learner{n}" for n in range(20))
    lessons = await rows(database, kind="lesson")
    assert len(lessons) == 20  # one per learner, whoever planned it
    assert len(await rows(database)) == 20 * 3  # lesson, one quiz item, reflection


@pytest.mark.parametrize(
    "status",
    [PersonStatus.UNREACHABLE, PersonStatus.INACTIVE, PersonStatus.PENDING, PersonStatus.FORGOTTEN],
)
async def test_only_active_learners_are_planned(database, status):
    async with database.sessions() as session:
        await add_pack(session)
        await add_learner(session, "gone", status=status)
        await session.commit()
    result = await plan(database, SimulatedClock(MONDAY_9AM))
    assert result.planned == []
    assert await rows(database) == []


async def test_coaches_and_learners_without_an_active_enrolment_get_nothing(database):
    async with database.sessions() as session:
        await add_pack(session)
        await add_person(session, "coach", role=Role.COACH)
        await add_person(session, "unenrolled")
        moved = await add_learner(session, "moved")
        enrolment = (await session.exec(select(Enrolment))).one()
        enrolment.active = False
        assert enrolment.person_id == moved.id
        await session.commit()
    assert (await plan(database, SimulatedClock(MONDAY_9AM))).planned == []
    assert await rows(database) == []


async def test_nothing_before_the_send_time_and_nothing_at_weekends(database):
    async with database.sessions() as session:
        await add_pack(session, lessons=5)
        await add_learner(session, send_time="10:30")
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM + timedelta(hours=1, minutes=29))
    assert (await plan(database, clock)).skipped["send time not reached"] == 1
    clock.advance(timedelta(minutes=1))
    assert (await plan(database, clock)).planned == ["ada"]
    clock.set(MONDAY_9AM + timedelta(days=5, hours=3))  # Saturday 12:00
    assert (await plan(database, clock)).skipped["not a working day"] == 1
    assert [row.local_date for row in await rows(database, kind="lesson")] == [MONDAY]


async def test_pause_stops_planning_and_resume_shifts_reviews_by_the_pause(database):
    async with database.sessions() as session:
        await add_pack(session, lessons=5)
        ada = await add_learner(session)
        items = await items_by_key(session)
        await review(session, ada, items["L5-single"], timedelta(days=10))
        # Paused on Monday before the send time, back on Thursday.
        await pause_person(
            session, person=ada, until=date(2026, 11, 26), now=MONDAY_9AM - timedelta(hours=1)
        )
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM)
    for _ in range(3):  # Monday, Tuesday, Wednesday
        assert (await plan(database, clock)).skipped["paused"] == 1
        clock.advance(timedelta(days=1))
    assert (await plan(database, clock)).planned == ["ada"]  # Thursday
    assert [row.local_date for row in await rows(database, kind="lesson")] == [date(2026, 11, 26)]
    async with database.sessions() as session:
        state = (await session.exec(select(ReviewState))).one()
        learner = await session.get(type(ada), ada.id)
    # Three days and an hour paused: the card comes back that much later.
    assert state.due == MONDAY_9AM + timedelta(days=13, hours=1)
    assert learner.paused_until is None


async def test_an_open_ended_pause_cancels_todays_rows_and_resume_plans_the_same_day(database):
    async with database.sessions() as session:
        await add_pack(session, lessons=3, types=("single",))
        ada = await add_learner(session)
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM)
    await plan(database, clock)  # Monday's rows wait to be sent
    clock.advance(timedelta(minutes=30))
    async with database.sessions() as session:
        ada = await session.get(type(ada), ada.id)
        await pause_person(session, person=ada, until=None, now=clock.now())
        await session.commit()
    for _ in range(2):  # Tuesday and Wednesday at ten
        clock.advance(timedelta(days=1))
        assert (await plan(database, clock)).skipped["paused"] == 1
    async with database.sessions() as session:
        ada = await session.get(type(ada), ada.id)
        await resume_person(session, person=ada, now=clock.now())
        await session.commit()
    assert (await plan(database, clock)).planned == ["ada"]  # Wednesday, straight away

    console = ConsoleTransport()
    await dispatcher(database, clock, console).tick()
    assert [m.text.splitlines()[0] for m in console.to("console:ada")] == [
        "📘 *Lesson 1*",  # Monday's lesson was never sent, so it comes now
        "❓ *Quiz*",
        "💭 *Reflection*",
    ]
    monday = await rows(database, local_date=MONDAY)
    assert {(row.status, row.reason) for row in monday} == {(DeliveryStatus.CANCELLED, "paused")}
    assert [row.local_date for row in await rows(database, kind="lesson")] == [
        MONDAY,
        date(2026, 11, 25),
    ]


async def test_three_days_of_downtime_then_restart_gives_one_delivery_not_four(database):
    async with database.sessions() as session:
        await add_pack(session, lessons=10, types=())
        await add_learner(session)
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM)
    console = ConsoleTransport()
    send_rows = dispatcher(database, clock, console)
    await plan(database, clock)
    await send_rows.tick()
    assert len(console.to("console:ada")) == 2  # Monday's lesson and reflection
    # Down from Monday 9:01 to Thursday 16:00.
    clock.set(MONDAY_9AM + timedelta(days=3, hours=7))
    await plan(database, clock)
    await send_rows.tick()
    lessons = await rows(database, kind="lesson")
    assert [row.local_date for row in lessons] == [MONDAY, date(2026, 11, 26)]
    assert [m.text.splitlines()[0] for m in console.to("console:ada")[2:]] == [
        "📘 *Lesson 2*",
        "💭 *Reflection*",
    ]


async def test_rows_of_a_past_day_never_sent_are_not_sent_days_later(database):
    async with database.sessions() as session:
        await add_pack(session, lessons=10, types=("single",))
        await add_learner(session)
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM)
    await plan(database, clock)  # planned Monday, then the process died before dispatching
    clock.set(MONDAY_9AM + timedelta(days=3, hours=7))  # restart Thursday 16:00
    console = ConsoleTransport()
    await plan(database, clock)
    await dispatcher(database, clock, console).tick()
    sent = console.to("console:ada")
    assert [m.text.splitlines()[0] for m in sent] == [
        "📘 *Lesson 1*",
        "❓ *Quiz*",
        "💭 *Reflection*",
    ]
    monday = await rows(database, local_date=MONDAY)
    assert {row.status for row in monday} == {DeliveryStatus.CANCELLED}
    assert all(row.reason and "passed" in row.reason for row in monday)


async def test_a_cancelled_lesson_comes_round_again(database):
    async with database.sessions() as session:
        await add_pack(session, lessons=3, types=())
        ada = await add_learner(session)
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM)
    await plan(database, clock)
    async with database.sessions() as session:
        ada = await session.get(type(ada), ada.id)
        await pause_person(session, person=ada, until=date(2026, 11, 24), now=clock.now())
        await session.commit()
    clock.advance(timedelta(days=1))
    await plan(database, clock)
    lessons = await rows(database, kind="lesson")
    async with database.sessions() as session:
        first = (await session.exec(select(Lesson).where(Lesson.key == "L1"))).one()
    assert [(row.local_date, row.status) for row in lessons] == [
        (MONDAY, DeliveryStatus.CANCELLED),
        (date(2026, 11, 24), DeliveryStatus.PENDING),
    ]
    assert lessons[1].lesson_id == first.id


async def test_a_tick_plans_every_due_learner_in_batches_without_leaving_any_for_later(database):
    async with database.sessions() as session:
        await add_pack(session, types=())
        for name in ("ada", "bea", "cy", "dee", "eve"):
            await add_learner(session, name)
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM)
    first = await plan(database, clock, batch=2)
    assert first.planned == ["ada", "bea", "cy", "dee", "eve"], first.skipped
    assert len(await rows(database, kind="lesson")) == 5


async def test_learners_not_due_yet_and_finished_ones_are_not_looked_at_again_this_day(database):
    async with database.sessions() as session:
        await add_pack(session, types=())
        await add_learner(session, "ada")
        await add_learner(session, "late", send_time="17:00")
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM)
    first = await plan(database, clock)
    assert (first.planned, first.skipped) == (["ada"], {"send time not reached": 1})
    clock.advance(timedelta(minutes=1))
    idle = await plan(database, clock)
    assert (idle.planned, idle.skipped) == ([], {})  # neither was read again
    clock.set(MONDAY_9AM.replace(hour=17))
    assert (await plan(database, clock)).planned == ["late"]
    async with database.sessions() as session:
        await session.exec(update(Delivery).values(status=DeliveryStatus.SENT))
        await session.commit()
    clock.set(MONDAY_9AM + timedelta(days=1))  # Tuesday: ada has had the pack's one lesson
    assert (await plan(database, clock)).skipped == {"pack finished, no reviews due": 1}

    clock.advance(timedelta(minutes=1))
    idle = await plan(database, clock)

    assert (idle.planned, idle.skipped) == ([], {})  # the finished learner is not planned again


async def test_a_new_send_time_is_seen_at_the_next_tick(database):
    async with database.sessions() as session:
        await add_pack(session, types=())
        ada = await add_learner(session, "ada", send_time="10:00")
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM)
    assert (await plan(database, clock)).planned == []
    async with database.sessions() as session:
        (await session.get(type(ada), ada.id)).send_time = "08:30"
        await session.commit()

    clock.advance(timedelta(minutes=1))

    assert (await plan(database, clock)).planned == ["ada"]
