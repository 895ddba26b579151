"""Learner commands, typed or as platform commands, handled the same way."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.admin.progress import lessons_done
from bot.clock import SimulatedClock
from bot.coaching.pauses import OPEN_ENDED
from bot.conversation import router as router_module
from bot.conversation.router import InboundRouter
from bot.messages import Answer, Command, Text
from bot.transports.console import ConsoleTransport
from storage.models import (
    Delivery,
    DeliveryStatus,
    Item,
    Person,
    PersonStatus,
    Reflection,
    Response,
    ReviewState,
)
from tests.delivery_support import dispatcher
from tests.factories import MONDAY_9AM, add_pack, add_person, add_team, outbox, send

DAY = timedelta(days=1)


async def world(database):
    """Ada with Monday's lesson and two quiz prompts sent at 9:00."""
    async with database.sessions() as session:
        team = await add_team(session)
        ada = await add_person(session, "ada", team=team)
        [lesson] = await add_pack(session, types=("single", "true_false"))
        today = MONDAY_9AM.date()
        await send(session, ada, kind="lesson", day=today, sent_at=MONDAY_9AM, lesson_id=lesson.id)
        prompts = [
            await send(session, ada, kind="quiz", day=today, sent_at=MONDAY_9AM, item=item)
            for item in (await session.exec(select(Item).order_by(Item.id))).all()
        ]
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM + timedelta(minutes=30))
    return clock, InboundRouter(sessions=database.sessions, clock=clock), ada, prompts


async def reply(database, person, event_id):
    """The text of the reply to one event."""
    async with database.sessions() as session:
        return (await outbox(session, person))[f"reply:{event_id}"]


async def person(database, name="ada"):
    """A fresh copy of a person row."""
    async with database.sessions() as session:
        return (await session.exec(select(Person).where(Person.name == name))).one()


async def test_help_lists_every_command(database):
    _, service, ada, _ = await world(database)
    await service.handle(Text(ada.address, "e1", "help"))
    text = await reply(database, ada, "e1")
    for name in (
        "today",
        "progress",
        "pause",
        "resume",
        "time",
        "timezone",
        "coach",
        "export",
        "forget",
        "stop",
    ):
        assert f"`{name}" in text


async def test_pause_until_a_date_then_resume_freezes_reviews(database):
    clock, service, ada, prompts = await world(database)
    await service.handle(Answer(ada.address, "e0", prompts[0].id, ("c1",)))
    async with database.sessions() as session:
        due_before = (await session.exec(select(ReviewState))).one().due
        session.add(
            Delivery(
                person_id=ada.id,
                delivery_key="lesson:2026-11-24",
                kind="lesson",
                due_at=MONDAY_9AM + DAY,
            )
        )
        await session.commit()
    await service.handle(Text(ada.address, "e1", "pause until 2026-12-07"))
    paused = await person(database)
    assert paused.paused_until.isoformat() == "2026-12-07"
    assert "Paused until Mon 7 Dec 2026" in await reply(database, ada, "e1")
    async with database.sessions() as session:
        tomorrow = (
            await session.exec(select(Delivery).where(Delivery.delivery_key == "lesson:2026-11-24"))
        ).one()
    assert tomorrow.status == DeliveryStatus.CANCELLED

    clock.advance(10 * DAY)
    await service.handle(Command(ada.address, "e2", "resume"))
    resumed = await person(database)
    assert resumed.paused_until is None and resumed.paused_at is None
    async with database.sessions() as session:
        due_after = (await session.exec(select(ReviewState))).one().due
    assert due_after - due_before == 10 * DAY
    assert "Welcome back" in await reply(database, ada, "e2")


async def paused_with_a_review_open(database):
    """Ada answered a quiz, then paused until resumed; three days on, a review of it is open."""
    clock, service, ada, prompts = await world(database)
    await service.handle(Answer(ada.address, "e0", prompts[0].id, ("c1",)))
    async with database.sessions() as session:
        paused = await session.get(Person, ada.id)
        paused.paused_until, paused.paused_at = OPEN_ENDED, clock.now()  # paused until resumed
        item = await session.get(Item, prompts[0].item_id)
        clock.advance(3 * DAY)
        again = await send(
            session, paused, kind="review", day=clock.now().date(), sent_at=clock.now(), item=item
        )
        await session.commit()
    clock.advance(timedelta(minutes=5))
    return clock, service, ada, paused, again


async def test_a_review_answered_together_with_resume_keeps_the_answer_and_the_shift(database):
    clock, service, ada, paused, again = await paused_with_a_review_open(database)
    # Arriving together, the answer and the resume are handled in one transaction.
    await asyncio.gather(
        service.handle(Answer(ada.address, "e1", again.id, ("c1",))),
        service.handle(Command(ada.address, "e2", "resume")),
    )
    span = clock.now() - paused.paused_at
    async with database.sessions() as session:
        state = (await session.exec(select(ReviewState))).one()
    # As if one after the other: the review answered now, then its card moved by the pause.
    assert state.reviews == 2
    assert state.last_review == clock.now() + span


async def test_a_resume_arriving_while_a_review_is_graded_waits_for_it(database, monkeypatch):
    clock, service, ada, paused, again = await paused_with_a_review_open(database)
    route = router_module.InboundRouter._route
    resuming: list[asyncio.Task[None]] = []

    async def slow_answer(self, turn, inbound):
        await route(self, turn, inbound)
        if isinstance(inbound, Answer):  # graded, not yet committed: the resume arrives now
            resuming.append(
                asyncio.create_task(service.handle(Command(ada.address, "e2", "resume")))
            )
            await asyncio.wait(resuming, timeout=0.5)  # on PostgreSQL it could run meanwhile

    monkeypatch.setattr(router_module.InboundRouter, "_route", slow_answer)
    await service.handle(Answer(ada.address, "e1", again.id, ("c1",)))
    await asyncio.gather(*resuming)
    span = clock.now() - paused.paused_at
    async with database.sessions() as session:
        state = (await session.exec(select(ReviewState))).one()
    assert state.reviews == 2
    assert state.last_review == clock.now() + span  # the resume moved the card the answer wrote


async def test_open_ended_pause_and_bad_dates(database):
    _, service, ada, _ = await world(database)
    await service.handle(Command(ada.address, "e1", "pause", ("until", "2020-01-01")))
    assert "after today" in await reply(database, ada, "e1")
    await service.handle(Command(ada.address, "e2", "pause", ("soon",)))
    assert "pause until YYYY-MM-DD" in await reply(database, ada, "e2")
    assert (await person(database)).paused_until is None
    await service.handle(Command(ada.address, "e3", "pause"))
    assert (await person(database)).paused_until.year == 9999
    await service.handle(Command(ada.address, "e4", "progress"))
    assert "You are paused" in await reply(database, ada, "e4")


async def test_time_and_timezone(database):
    _, service, ada, _ = await world(database)
    await service.handle(Text(ada.address, "e1", "time 8:30"))
    await service.handle(Text(ada.address, "e2", "timezone europe/berlin"))
    await service.handle(Command(ada.address, "e3", "timezone", ("Mars/Olympus",)))
    await service.handle(Command(ada.address, "e4", "time", ("25:00",)))
    ada_now = await person(database)
    assert (ada_now.send_time, ada_now.timezone) == ("08:30", "Europe/Berlin")
    assert "10:30 there now" in await reply(database, ada, "e2")
    assert "I don't know the timezone 'Mars/Olympus'" in await reply(database, ada, "e3")
    assert await reply(database, ada, "e4") == "Use HH:MM, e.g. `time 07:30`."
    await service.handle(Text(ada.address, "e5", "time"))
    await service.handle(Text(ada.address, "e6", "timezone"))
    assert "Your lessons arrive at 08:30 (Europe/Berlin)" in await reply(database, ada, "e5")
    assert "Your timezone is Europe/Berlin" in await reply(database, ada, "e6")


@pytest.mark.parametrize(
    ("text", "zone"),
    [("timezone new york", "America/New_York"), ("timezone Paris", "Europe/Paris")],
)
async def test_timezone_by_city(database, text, zone):
    _, service, ada, _ = await world(database)
    await service.handle(Text(ada.address, "e1", text))
    assert (await person(database)).timezone == zone
    assert f"Timezone set to {zone}" in await reply(database, ada, "e1")


async def test_progress_shows_streak_accuracy_and_next_lesson(database):
    _, service, ada, prompts = await world(database)
    await service.handle(Answer(ada.address, "e1", prompts[0].id, ("c1",)))
    await service.handle(Answer(ada.address, "e2", prompts[1].id, ("false",)))
    await service.handle(Command(ada.address, "e3", "progress"))
    text = await reply(database, ada, "e3")
    assert "Streak: 1 day in a row" in text
    assert "• Phone: 1/2 (50%)" in text  # the topic id in words: the pack names none
    assert "Next lesson: Tue 24 Nov at 09:00 (Europe/London)" in text


async def test_today_queues_copies_that_refer_to_the_sent_rows_and_count_once(database):
    clock, service, ada, prompts = await world(database)
    await service.handle(Answer(ada.address, "e1", prompts[0].id, ("c1",)))
    await service.handle(Text(ada.address, "e2", "today"))
    await service.handle(Text(ada.address, "e3", "today"))  # the copies are on their way
    async with database.sessions() as session:
        rows = {d.delivery_key: d for d in (await session.exec(select(Delivery))).all()}
    first, copy = rows["lesson:2026-11-23"], rows["lesson:2026-11-23:again:1"]
    assert first.status == DeliveryStatus.SENT  # a sent row is never rewritten
    assert (copy.status, copy.refers_to, copy.due_at) == ("pending", first.id, clock.now())
    typed_copy = rows["quiz:2026-11-23:L1-true_false:again:1"]
    assert typed_copy.refers_to == prompts[1].id
    assert "quiz:2026-11-23:L1-single:again:1" not in rows  # answered already
    assert not any(key.endswith("again:2") for key in rows)
    assert "today's lesson again" in await reply(database, ada, "e2")

    console = ConsoleTransport()
    assert (await dispatcher(database, clock, console).drain()).sent >= 2
    [resent] = [m.outbound for m in console.sent if m.outbound.delivery_id == typed_copy.id]
    await service.handle(Answer(ada.address, "e4", typed_copy.id, ("true",)))
    await service.handle(Answer(ada.address, "e5", prompts[1].id, ("false",)))
    async with database.sessions() as session:
        answers = (await session.exec(select(Response).order_by(Response.id))).all()
        done = await lessons_done(session, person_id=ada.id)
    assert [(a.delivery_id, a.answer) for a in answers] == [
        (prompts[0].id, "c1"),
        (prompts[1].id, "true"),  # the copy answered the first; a second press changes nothing
    ]
    assert resent.choices and done == {(ada.id, "care"): 1}


async def test_stop_cancels_everything_until_resume(database):
    _, service, ada, _ = await world(database)
    async with database.sessions() as session:
        session.add(
            Delivery(
                person_id=ada.id,
                delivery_key="lesson:2026-11-24",
                kind="lesson",
                due_at=MONDAY_9AM + DAY,
            )
        )
        await session.commit()
    await service.handle(Text(ada.address, "e1", "stop"))
    assert (await person(database)).status == PersonStatus.INACTIVE
    async with database.sessions() as session:
        pending = (
            await session.exec(select(Delivery).where(Delivery.status == DeliveryStatus.PENDING))
        ).all()
    assert [d.delivery_key for d in pending] == ["reply:e1"]
    assert "resume" in await reply(database, ada, "e1")
    await service.handle(Text(ada.address, "e2", "resume"))
    assert (await person(database)).status == PersonStatus.ACTIVE


async def test_words_in_a_sentence_are_not_commands(database):
    _, service, ada, _ = await world(database)
    await service.handle(Text(ada.address, "e1", "time management is hard"))
    assert (await person(database)).send_time == "09:00"
    assert "help" in await reply(database, ada, "e1")


async def waiting_world(database, waiting):
    """Ada with a short and a numeric question (`typed`) or a reflection prompt sent at 9:00."""
    async with database.sessions() as session:
        ada = await add_person(session, "ada", team=await add_team(session))
        [lesson] = await add_pack(session, types=("short", "numeric"))
        day = MONDAY_9AM.date()
        if waiting == "typed":
            for item in (await session.exec(select(Item).order_by(Item.position))).all():
                await send(session, ada, kind="quiz", day=day, sent_at=MONDAY_9AM, item=item)
        else:
            await send(
                session, ada, kind="reflection", day=day, sent_at=MONDAY_9AM, lesson_id=lesson.id
            )
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM + timedelta(minutes=30))
    return InboundRouter(sessions=database.sessions, clock=clock), ada


BAD_COMMANDS = [
    ("time 25:99", "Use HH:MM, e.g. `time 07:30`."),
    (
        "timezone Mars/Olympus",
        "I don't know the timezone 'Mars/Olympus'. Try a city, e.g. `timezone Europe/Paris`.",
    ),
    (
        "pause until 2026-13-45",
        "I can't read '2026-13-45' as a date. "
        "Use `pause` or `pause until YYYY-MM-DD`, e.g. `pause until 2026-11-30`.",
    ),
]


@pytest.mark.parametrize("waiting", ["typed", "reflection"])
@pytest.mark.parametrize(("text", "expected"), BAD_COMMANDS)
async def test_a_bad_command_is_never_an_answer_or_a_reflection(database, waiting, text, expected):
    service, ada = await waiting_world(database, waiting)
    await service.handle(Text(ada.address, "e1", text))
    assert await reply(database, ada, "e1") == expected
    async with database.sessions() as session:
        assert (await session.exec(select(Response))).all() == []  # nothing for the struggle score
        assert (await session.exec(select(ReviewState))).all() == []
        assert (await session.exec(select(Reflection))).all() == []
        assert list(await outbox(session, ada)) == ["reply:e1"]  # no feedback, no thanks
    ada_now = await person(database)
    assert (ada_now.send_time, ada_now.timezone, ada_now.paused_until) == (
        "09:00",
        "Europe/London",
        None,
    )
    await service.handle(Text(ada.address, "e2", "next steps"))  # still open: this one counts
    async with database.sessions() as session:
        answers = [r.correct for r in (await session.exec(select(Response))).all()]
        reflections = [r.text for r in (await session.exec(select(Reflection))).all()]
    assert (answers, reflections) == (([True], []) if waiting == "typed" else ([], ["next steps"]))


async def test_a_sentence_starting_with_a_command_word_is_a_reflection(database):
    service, ada = await waiting_world(database, "reflection")
    await service.handle(Text(ada.address, "e1", "Stop interrupting and listen to the end"))
    async with database.sessions() as session:
        assert [r.text for r in (await session.exec(select(Reflection))).all()] == [
            "Stop interrupting and listen to the end"
        ]
    assert (await person(database)).status == PersonStatus.ACTIVE


async def test_example_dates_are_a_week_after_the_learners_own_today(database):
    async with database.sessions() as session:
        ada = await add_person(session, "ada", timezone="America/Los_Angeles")
        await session.commit()
    clock = SimulatedClock(datetime(2026, 11, 23, 3, 0, tzinfo=UTC))  # Sun 22 Nov in Los Angeles
    service = InboundRouter(sessions=database.sessions, clock=clock)
    await service.handle(Text(ada.address, "e1", "help"))
    await service.handle(Text(ada.address, "e2", "pause until 2026-11-01"))
    await service.handle(Text(ada.address, "e3", "pause tomorrow"))
    await service.handle(Text(ada.address, "e5", "pause until"))
    assert (await person(database)).paused_until is None
    assert "`pause until 2026-11-29`" in await reply(database, ada, "e1")
    assert await reply(database, ada, "e2") == (
        "Pick a date after today, e.g. `pause until 2026-11-29`."
    )
    assert "e.g. `pause until 2026-11-29`" in await reply(database, ada, "e3")
    assert await reply(database, ada, "e5") == (
        "Use `pause` or `pause until YYYY-MM-DD`, e.g. `pause until 2026-11-29`."
    )
    clock.advance(365 * DAY)
    await service.handle(Text(ada.address, "e4", "help"))
    assert "`pause until 2027-11-29`" in await reply(database, ada, "e4")
