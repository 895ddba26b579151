"""What an answer costs the database, and answers arriving together processed together."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import col, func, select

import bot.conversation.router as router_module
from bot.clock import SimulatedClock
from bot.coaching import calibration
from bot.coaching.struggle import shrunk_share
from bot.conversation.router import InboundRouter
from bot.messages import Answer, Text
from storage.models import (
    Calibration,
    Delivery,
    DeliveryKind,
    InboxEntry,
    Item,
    Person,
    Response,
)
from tests.factories import MONDAY_9AM, add_pack, add_person, add_team, send

# Store (one: the inbox's unique key turns a repeat away); take, sender with prompt, window;
# answer, review state, feedback with edit. The calibration counts wait for 50 answers.
ANSWER_STATEMENTS = 7


@contextmanager
def counted(database) -> Iterator[dict[str, int]]:
    """SQL statements and commits run on `database` while the block runs."""
    seen = {"statements": 0, "commits": 0}
    engine = database.engine.sync_engine

    def statement(*_: object) -> None:
        seen["statements"] += 1

    def commit(*_: object) -> None:
        seen["commits"] += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)


async def learners_with_open_quizzes(database, count: int, *, kind: str = "single"):
    """`count` learners of one team, each with today's quiz of `kind` sent; (router, prompts)."""
    clock = SimulatedClock(MONDAY_9AM)
    async with database.sessions() as session:
        team = await add_team(session)
        people = [await add_person(session, f"learner{n}", team=team) for n in range(count)]
        await add_pack(session, lessons=2, types=(kind,))
        item = (await session.exec(select(Item).order_by(Item.id))).first()
        prompts = [
            (
                person,
                await send(
                    session,
                    person,
                    kind="quiz",
                    day=clock.now().date(),
                    sent_at=clock.now(),
                    item=item,
                ),
            )
            for person in people
        ]
        await session.commit()
    clock.advance(timedelta(minutes=10))
    return InboundRouter(sessions=database.sessions, clock=clock), prompts


def press(person: Person, prompt: Delivery, choice: str) -> Answer:
    """The learner pressing `choice` under the prompt."""
    return Answer(person.address, f"press-{prompt.id}", prompt.id, (choice,))


async def stored_answers(database) -> int:
    """How many graded answers are stored."""
    async with database.sessions() as session:
        return (await session.exec(select(func.count(Response.id)))).one()


async def test_an_answer_right_or_wrong_costs_at_most_seven_statements(database):
    router, prompts = await learners_with_open_quizzes(database, 2)
    (ada, first), (bob, second) = prompts
    with counted(database) as right:
        await router.handle(press(ada, first, "c1"))  # c1 (the second choice) is right
    with counted(database) as wrong:
        await router.handle(press(bob, second, "c2"))
    assert await stored_answers(database) == 2
    # A wrong answer asks nothing more: its repeat misses come with the struggle score.
    assert right["statements"] <= ANSWER_STATEMENTS
    assert wrong["statements"] <= ANSWER_STATEMENTS


async def test_a_typed_reply_to_its_question_costs_one_statement_more(database):
    router, [(ada, prompt)] = await learners_with_open_quizzes(database, 1, kind="short")
    with counted(database) as typed:
        await router.handle(Text(ada.address, "typed-1", "next steps", prompt.id))
    async with database.sessions() as session:
        [answer] = (await session.exec(select(Response))).all()
    assert answer.correct
    # The sender is read with the question replied to; the one more is the learner's open case,
    # which decides whether plain text goes to a coach.
    assert typed["statements"] <= ANSWER_STATEMENTS + 1


async def test_answers_arriving_together_are_processed_in_fewer_transactions(database):
    router, prompts = await learners_with_open_quizzes(database, 20)
    with counted(database) as seen:
        await asyncio.gather(*(router.handle(press(p, d, "c1")) for p, d in prompts))
    assert await stored_answers(database) == 20
    async with database.sessions() as session:
        feedback = select(func.count(Delivery.id)).where(Delivery.kind == DeliveryKind.FEEDBACK)
        assert (await session.exec(feedback)).one() == 20
        waiting = select(func.count(InboxEntry.id)).where(col(InboxEntry.handled_at).is_(None))
        assert (await session.exec(waiting)).one() == 0
    # Each answer is stored in its own commit; processing them took far fewer than 20 more.
    assert seen["commits"] <= 20 + 10


async def test_one_failing_answer_in_a_batch_holds_back_none_of_the_others(database, monkeypatch):
    router, prompts = await learners_with_open_quizzes(database, 10)
    _, bad_prompt = prompts[3]
    route = router_module.InboundRouter._route

    async def failing(self, turn, inbound):
        if inbound.event_id == f"press-{bad_prompt.id}":
            raise RuntimeError("the database went away for this one")
        await route(self, turn, inbound)

    monkeypatch.setattr(router_module.InboundRouter, "_route", failing)
    await asyncio.gather(*(router.handle(press(p, d, "c1")) for p, d in prompts))
    assert await stored_answers(database) == 9
    async with database.sessions() as session:
        waiting = select(InboxEntry).where(col(InboxEntry.handled_at).is_(None))
        kept = (await session.exec(waiting)).one()
    assert kept.event["delivery_id"] == bad_prompt.id and kept.attempts == 1


async def test_answers_processed_together_are_calibrated_as_if_one_by_one(database, monkeypatch):
    monkeypatch.setattr(router_module, "WORKING", 1)  # one transaction at a time, as on SQLite
    router, prompts = await learners_with_open_quizzes(database, 12)
    await asyncio.gather(*(router.handle(press(p, d, "c1")) for p, d in prompts))
    await router.write_counts()
    async with database.sessions() as session:
        expected = sorted((await session.exec(select(Response.expected))).all(), reverse=True)
        counts = (await session.exec(select(Calibration))).one()
    # The k-th answer to a new question sees the k before it, all right.
    one_by_one = [
        shrunk_share(correct=k, answers=k, prior=shrunk_share(correct=k, answers=k, prior=0.75))
        for k in range(12)
    ]
    assert expected == pytest.approx(sorted(one_by_one, reverse=True))
    assert (counts.answers, counts.correct) == (12, 12)


async def test_counts_are_written_in_batches_and_count_at_once_where_they_were_given(
    database, monkeypatch
):
    monkeypatch.setattr(calibration, "WRITE_EVERY", 3)
    router, prompts = await learners_with_open_quizzes(database, 4)
    for person, prompt in prompts[:2]:
        await router.handle(press(person, prompt, "c1"))
    assert await calibration_counts(database) == {}  # not yet written
    for person, prompt in prompts[2:]:
        await router.handle(press(person, prompt, "c1"))
    assert list((await calibration_counts(database)).values()) == [(3, 3)]  # with the third
    async with database.sessions() as session:
        expected = (await session.exec(select(Response.expected).order_by(Response.id))).all()
    # Each answer saw the ones before it, written or not.
    assert expected == [
        pytest.approx(
            shrunk_share(correct=k, answers=k, prior=shrunk_share(correct=k, answers=k, prior=0.75))
        )
        for k in range(4)
    ]
    await router.write_counts()  # as the inbox tick and shutdown do
    assert list((await calibration_counts(database)).values()) == [(4, 4)]


async def calibration_counts(database) -> dict[str, tuple[int, int]]:
    """(answers, correct) of each calibration row, by scope."""
    async with database.sessions() as session:
        rows = (await session.exec(select(Calibration))).all()
    return {row.scope: (row.answers, row.correct) for row in rows}


async def test_a_batch_that_rolls_back_counts_only_the_answers_then_kept(database, monkeypatch):
    router, prompts = await learners_with_open_quizzes(database, 10)
    failing_press = f"press-{prompts[-1][1].id}"  # the last answer fails: the batch rolls back
    route = router_module.InboundRouter._route

    async def failing(self, turn, inbound):
        await route(self, turn, inbound)
        if inbound.event_id == failing_press:
            raise RuntimeError("the database went away after grading this one")

    monkeypatch.setattr(router_module.InboundRouter, "_route", failing)
    picks = ["c1", "c2"] * 5  # five right, five wrong
    presses = [press(p, d, pick) for (p, d), pick in zip(prompts, picks, strict=True)]
    await asyncio.gather(*(router.handle(answer) for answer in presses))
    assert await stored_answers(database) == 9
    await router.write_counts()
    # The nine kept answers are counted once each; the rolled-back ones and the failed one not.
    assert list((await calibration_counts(database)).values()) == [(9, 5)]


async def test_a_single_answer_that_rolls_back_writes_no_counts(database, monkeypatch):
    router, [(ada, prompt)] = await learners_with_open_quizzes(database, 1)
    route = router_module.InboundRouter._route

    async def failing(self, turn, inbound):
        await route(self, turn, inbound)
        raise RuntimeError("the database went away after grading")

    monkeypatch.setattr(router_module.InboundRouter, "_route", failing)
    await router.handle(press(ada, prompt, "c1"))
    assert await calibration_counts(database) == {}
    monkeypatch.setattr(router_module.InboundRouter, "_route", route)
    router._clock.advance(timedelta(minutes=1))
    assert await router.replay() == 1
    assert list((await calibration_counts(database)).values()) == [(1, 1)]


async def test_answers_arriving_together_share_their_statements(database):
    router, prompts = await learners_with_open_quizzes(database, 20)
    with counted(database) as seen:
        await asyncio.gather(*(router.handle(press(p, d, "c1")) for p, d in prompts))
    assert await stored_answers(database) == 20
    # Stored together and handled together: who sent them, their prompts and their struggle
    # evidence are read once per batch, not once per answer.
    assert seen["statements"] <= 20 * 6
