"""Answering prompts through the coaching service: graded at once, once only."""

import asyncio
from datetime import timedelta

from sqlmodel import select

from bot.clock import SimulatedClock
from bot.conversation.router import InboundRouter
from bot.messages import Answer, Text
from storage.models import Item, Response, ReviewState
from tests.factories import MONDAY_9AM, add_pack, add_person, add_team, outbox, send

TODAY = MONDAY_9AM.date()


async def setup(database, *types):
    """A learner with one sent prompt per item type; returns (clock, service, ada, prompts)."""
    clock = SimulatedClock(MONDAY_9AM + timedelta(minutes=5))
    async with database.sessions() as session:
        team = await add_team(session)
        ada = await add_person(session, "ada", team=team)
        await add_pack(session, types=types)
        items = (await session.exec(select(Item).order_by(Item.position))).all()
        prompts = {
            item.type: await send(
                session, ada, kind="quiz", day=TODAY, sent_at=MONDAY_9AM, item=item
            )
            for item in items
        }
        await session.commit()
    return clock, InboundRouter(sessions=database.sessions, clock=clock), ada, prompts


async def test_right_answer_gets_feedback_and_schedules_review_days_later(database):
    clock, service, ada, prompts = await setup(database, "single")
    await service.handle(Answer("console:ada", "e1", prompts["single"].id, ("c1",)))
    async with database.sessions() as session:
        texts = await outbox(session, ada)
        response = (await session.exec(select(Response))).one()
        state = (await session.exec(select(ReviewState))).one()
    feedback = texts[f"feedback:{prompts['single'].id}"]
    assert feedback.startswith("✅")
    assert "Because people need to know." in feedback
    assert response.correct and not response.late and response.answer == "c1"
    assert state.due - clock.now() >= timedelta(days=2)


async def test_wrong_answer_shows_choice_feedback_and_right_answer(database):
    _, service, ada, prompts = await setup(database, "single")
    await service.handle(Answer("console:ada", "e1", prompts["single"].id, ("c0",)))
    async with database.sessions() as session:
        feedback = (await outbox(session, ada))[f"feedback:{prompts['single'].id}"]
    assert feedback.startswith("❌")
    assert "They may be lost." in feedback
    assert "Say who you are putting them through to" in feedback


async def test_second_answer_is_refused_and_first_counts(database):
    _, service, ada, prompts = await setup(database, "single")
    await service.handle(Answer("console:ada", "e1", prompts["single"].id, ("c1",)))
    await service.handle(Answer("console:ada", "e2", prompts["single"].id, ("c0",)))
    async with database.sessions() as session:
        texts = await outbox(session, ada)
        responses = (await session.exec(select(Response))).all()
    assert [r.correct for r in responses] == [True]
    assert "already answered" in texts["reply:e2"]


async def test_duplicate_event_changes_nothing(database):
    _, service, ada, prompts = await setup(database, "true_false")
    answer = Answer("console:ada", "same-id", prompts["true_false"].id, ("false",))
    await service.handle(answer)
    async with database.sessions() as session:
        before = await outbox(session, ada)
        state_before = (await session.exec(select(ReviewState))).one().card
    await service.handle(answer)
    async with database.sessions() as session:
        assert await outbox(session, ada) == before
        assert len((await session.exec(select(Response))).all()) == 1
        assert (await session.exec(select(ReviewState))).one().card == state_before


async def test_multiple_choice_toggles_until_done(database):
    _, service, ada, prompts = await setup(database, "multiple")
    prompt = prompts["multiple"].id
    for n, choice in enumerate(["c0", "c1", "c2", "c1", "done"]):
        await service.handle(Answer("console:ada", f"e{n}", prompt, (choice,)))
    async with database.sessions() as session:
        response = (await session.exec(select(Response))).one()
        feedback = (await outbox(session, ada))[f"feedback:{prompt}"]
    assert response.correct and response.answer == "c0,c2"
    assert "Yes: plain words." in feedback


async def test_typed_answers_are_graded_against_the_open_prompt(database):
    _, service, _, prompts = await setup(database, "short", "numeric")
    await service.handle(Text("console:ada", "e1", "  Next Steps! "))
    await service.handle(Text("console:ada", "e2", "about 3,2 rings"))
    async with database.sessions() as session:
        responses = (await session.exec(select(Response).order_by(Response.id))).all()
    assert [(r.delivery_id, r.correct) for r in responses] == [
        (prompts["short"].id, True),
        (prompts["numeric"].id, True),
    ]


async def test_answer_after_its_day_is_late_and_rated_hard(database):
    clock, service, ada, prompts = await setup(database, "single")
    clock.advance(timedelta(days=1))
    await service.handle(Answer("console:ada", "e1", prompts["single"].id, ("c1",)))
    async with database.sessions() as session:
        response = (await session.exec(select(Response))).one()
        state = (await session.exec(select(ReviewState))).one()
        feedback = (await outbox(session, ada))[f"feedback:{prompts['single'].id}"]
    assert response.late
    assert "late" in feedback
    assert state.due - clock.now() == timedelta(days=1)  # Hard: sooner than Good's two days


async def test_unknown_address_is_ignored(database):
    _, service, _, prompts = await setup(database, "single")
    await service.handle(Answer("console:eve", "e1", prompts["single"].id, ("c1",)))
    async with database.sessions() as session:
        assert (await session.exec(select(Response))).all() == []


async def test_simultaneous_answers_count_once(database):
    _, service, ada, prompts = await setup(database, "single")
    prompt = prompts["single"].id
    await asyncio.gather(
        *[service.handle(Answer("console:ada", f"e{n}", prompt, ("c1",))) for n in range(3)],
        *[service.handle(Answer("console:ada", "dup", prompt, ("c0",))) for _ in range(3)],
    )
    async with database.sessions() as session:
        texts = await outbox(session, ada)
        assert len((await session.exec(select(Response))).all()) == 1
    replies = [key for key in texts if key.startswith("reply:")]
    answered = [f"feedback:{prompt}", f"edit:{prompt}:answered"]
    assert sorted([*replies, *answered]) == sorted(texts)
    assert len(replies) == 3  # four distinct events: one graded, three told "already answered"
