"""Free text routing: reflections, relays, closed prompts, and the outbox wake-up."""

from datetime import timedelta

from sqlmodel import select

from bot.clock import SimulatedClock
from bot.conversation.router import InboundRouter
from bot.messages import Answer, Command, Text
from storage.models import (
    Delivery,
    Escalation,
    Item,
    Person,
    PersonStatus,
    Reflection,
    Response,
    Role,
    Team,
)
from tests.factories import MONDAY_9AM, add_item, add_pack, add_person, add_team, outbox, send

DAY = timedelta(days=1)


async def world(database, **service_args):
    """Ada (learner) and Cora (coach); Monday's lesson, single quiz and reflection prompt sent."""
    async with database.sessions() as session:
        team = await add_team(session)
        ada = await add_person(session, "ada", team=team)
        cora = await add_person(session, "cora", team=team, role=Role.COACH)
        lesson, _ = await add_pack(session, lessons=2)
        day = MONDAY_9AM.date()
        item = (await session.exec(select(Item).where(Item.lesson_id == lesson.id))).one()
        await send(session, ada, kind="lesson", day=day, sent_at=MONDAY_9AM, lesson_id=lesson.id)
        quiz = await send(session, ada, kind="quiz", day=day, sent_at=MONDAY_9AM, item=item)
        await send(
            session, ada, kind="reflection", day=day, sent_at=MONDAY_9AM, lesson_id=lesson.id
        )
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM + timedelta(minutes=10))
    service = InboundRouter(sessions=database.sessions, clock=clock, **service_args)
    return clock, service, ada, cora, quiz, lesson


async def test_reflection_is_stored_with_its_lesson_once(database):
    _, service, ada, _, _, lesson = await world(database)
    await service.handle(Text(ada.address, "e1", "I will name the colleague I transfer to."))
    await service.handle(Text(ada.address, "e2", "and smile"))
    async with database.sessions() as session:
        [reflection] = (await session.exec(select(Reflection))).all()
        texts = await outbox(session, ada)
    assert reflection.lesson_id == lesson.id and not reflection.asks_for_help
    assert "saved" in texts["reply:e1"]
    assert "help" in texts["reply:e2"]  # nothing awaits a reply any more


async def test_prompt_closes_when_the_next_lesson_is_sent(database):
    clock, service, ada, _, quiz, _ = await world(database)
    async with database.sessions() as session:
        await send(
            session,
            ada,
            kind="lesson",
            day=MONDAY_9AM.date() + DAY,
            sent_at=MONDAY_9AM + DAY,
            lesson_id=quiz.lesson_id,
        )
        await session.commit()
    clock.set(MONDAY_9AM + DAY + timedelta(hours=1))
    await service.handle(Answer(ada.address, "e1", quiz.id, ("c1",)))
    async with database.sessions() as session:
        assert (await session.exec(select(Response))).all() == []
        assert "closed" in (await outbox(session, ada))["reply:e1"]


async def test_newest_of_coach_message_and_reflection_prompt_gets_the_text(database):
    clock, service, ada, cora, _, _ = await world(database)
    await service.handle(Command(ada.address, "e1", "coach"))
    async with database.sessions() as session:
        case = (await session.exec(select(Escalation))).one()
    clock.advance(timedelta(minutes=5))
    await service.handle(Command(cora.address, "e2", "claim", (str(case.id),)))
    await service.handle(Text(ada.address, "e3", "thanks for picking this up"))
    async with database.sessions() as session:
        assert "thanks for picking" in (await outbox(session, cora))[f"escalation:{case.id}:msg:e3"]
        assert (await session.exec(select(Reflection))).all() == []
    async with database.sessions() as session:
        await send(
            session,
            ada,
            kind="reflection",
            day=MONDAY_9AM.date(),
            sent_at=clock.now() + timedelta(minutes=1),
            lesson_id=1,
            key="reflection:late",
        )
        await session.commit()
    clock.advance(timedelta(minutes=2))
    await service.handle(Text(ada.address, "e4", "my reflection"))
    async with database.sessions() as session:
        assert [r.text for r in (await session.exec(select(Reflection))).all()] == ["my reflection"]


async def test_feedback_wakes_the_dispatcher(database):
    woken = []

    async def wake():
        woken.append(True)

    _, service, ada, _, quiz, _ = await world(database, on_outbox=wake)
    await service.handle(Answer(ada.address, "e1", quiz.id, ("c1",)))
    await service.handle(Answer(ada.address, "e1", quiz.id, ("c1",)))  # duplicate: nothing new
    assert woken == [True]


async def test_someone_elses_prompt_cannot_be_answered(database):
    _, service, _, cora, quiz, _ = await world(database)
    await service.handle(Answer(cora.address, "e1", quiz.id, ("c1",)))
    async with database.sessions() as session:
        assert (await session.exec(select(Response))).all() == []
        assert "no longer works" in (await outbox(session, cora))["reply:e1"]


async def test_unreachable_learner_who_writes_is_reachable_again(database):
    _, service, ada, _, _, _ = await world(database)
    async with database.sessions() as session:
        row = await session.get(Person, ada.id)
        row.status = PersonStatus.UNREACHABLE
        await session.commit()
    await service.handle(Text(ada.address, "e1", "help"))
    async with database.sessions() as session:
        assert (await session.get(Person, ada.id)).status == PersonStatus.ACTIVE


async def test_a_reply_to_a_message_goes_to_that_message(database):
    _, service, ada, _, _, lesson = await world(database)
    async with database.sessions() as session:
        short = await add_item(session, lesson, "L1-short", "short", {"accepted": ["yes"]})
        await send(session, ada, kind="quiz", day=MONDAY_9AM.date(), sent_at=MONDAY_9AM, item=short)
        prompt = (await session.exec(select(Delivery).where(Delivery.kind == "reflection"))).one()
        await session.commit()
    await service.handle(Text(ada.address, "e1", "a reflection", reply_to_delivery_id=prompt.id))
    await service.handle(Text(ada.address, "e2", "yes"))
    async with database.sessions() as session:
        assert [r.text for r in (await session.exec(select(Reflection))).all()] == ["a reflection"]
        assert [r.correct for r in (await session.exec(select(Response))).all()] == [True]


async def test_unclaimed_case_tells_the_learner_to_wait(database):
    _, service, ada, _, _, _ = await world(database)
    await service.handle(Text(ada.address, "e1", "first reflection"))
    await service.handle(Command(ada.address, "e2", "coach"))
    await service.handle(Text(ada.address, "e3", "hello?"))
    async with database.sessions() as session:
        assert "with the coaches" in (await outbox(session, ada))["reply:e3"]


async def test_a_mistyped_command_is_not_saved_as_a_reflection(database):
    _, service, ada, _, _, _ = await world(database)
    for event_id, text in (("e1", "progres"), ("e2", "pasue"), ("e3", "Patience"), ("e4", "hlep")):
        await service.handle(Text(ada.address, event_id, text))
    async with database.sessions() as session:
        assert [r.text for r in (await session.exec(select(Reflection))).all()] == ["Patience"]
        texts = await outbox(session, ada)
    assert texts["reply:e1"] == (
        "Did you mean `progress`? If that was your reflection, write it in a few words."
    )
    assert texts["reply:e2"].startswith("Did you mean `pause`?")
    assert "saved" in texts["reply:e3"]
    assert texts["reply:e4"] == "Did you mean `help`? Send `help` to see what I can do."


async def test_a_one_word_help_phrase_is_a_reflection_even_if_it_looks_like_a_command(database):
    _, service, ada, _, _, _ = await world(database)
    async with database.sessions() as session:
        team = (await session.exec(select(Team))).one()
        team.policy = {"help_phrases": ["coaching"]}
        session.add(team)
        await session.commit()
    await service.handle(Text(ada.address, "e1", "Coaching!"))
    async with database.sessions() as session:
        [reflection] = (await session.exec(select(Reflection))).all()
        assert reflection.asks_for_help
        assert (await session.exec(select(Escalation))).one().person_id == ada.id
