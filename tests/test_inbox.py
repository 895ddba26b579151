"""An answer is stored before it is processed: a failure while processing loses nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

import bot.conversation.answers
from bot.clock import SimulatedClock
from bot.conversation import inbox
from bot.conversation.router import InboundRouter
from bot.messages import Answer, Text
from storage.models import InboxEntry, Item, Response
from tests.factories import MONDAY_9AM, add_pack, add_person, send


async def test_an_answer_whose_processing_fails_is_kept_and_graded_on_replay(
    database, monkeypatch: pytest.MonkeyPatch, caplog
):
    async with database.sessions() as session:
        ada = await add_person(session, "ada")
        [lesson] = await add_pack(session)
        item = (await session.exec(select(Item).where(Item.lesson_id == lesson.id))).first()
        quiz = await send(
            session, ada, kind="quiz", day=MONDAY_9AM.date(), sent_at=MONDAY_9AM, item=item
        )
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM + timedelta(minutes=5))
    router = InboundRouter(sessions=database.sessions, clock=clock)
    real_scored_evidence = bot.conversation.answers.scored_evidence

    async def database_gone(*args, **kwargs):
        raise ConnectionResetError("the database restarted")

    monkeypatch.setattr(bot.conversation.answers, "scored_evidence", database_gone)
    await router.handle(Answer("console:ada", "e1", quiz.id, ("c2",)))  # no traceback out

    async with database.sessions() as session:
        assert (await session.exec(select(Response))).all() == []
        [kept] = (await session.exec(select(InboxEntry))).all()
    assert "ConnectionResetError" in kept.last_error
    assert "it is kept and retried" in caplog.text

    monkeypatch.setattr(bot.conversation.answers, "scored_evidence", real_scored_evidence)
    clock.advance(timedelta(minutes=1))
    assert await router.replay() == 1
    await router.handle(Answer("console:ada", "e1", quiz.id, ("c2",)))  # the platform retries

    async with database.sessions() as session:
        [response] = (await session.exec(select(Response))).all()
        [handled] = (await session.exec(select(InboxEntry))).all()
    assert handled.handled_at == clock.now() and handled.event == {}  # nothing of it kept
    assert response.delivery_id == quiz.id


async def test_handled_events_are_pruned_after_a_week_and_waiting_ones_kept(database):
    clock = SimulatedClock(MONDAY_9AM)
    async with database.sessions.begin() as session:
        handled, failed = await inbox.store_all(
            session,
            [Text("console:ada", "e1", "hi"), Text("console:ada", "e2", "hi")],
            now=clock.now(),
        )
        await inbox.take(session, handled, now=clock.now())
    clock.advance(timedelta(days=7, minutes=1))
    async with database.sessions.begin() as session:
        [recent] = await inbox.store_all(
            session, [Text("console:ada", "e3", "hi")], now=clock.now()
        )
        await inbox.take(session, recent, now=clock.now())

    assert await inbox.prune(sessions=database.sessions, clock=clock) == 1

    async with database.sessions() as session:
        kept = (await session.exec(select(InboxEntry.id).order_by(InboxEntry.id))).all()
        stored = await inbox.store_all(session, [Text("console:ada", "e3", "hi")], now=clock.now())
    assert kept == [failed, recent]  # an event still waiting stays, whatever its age
    assert stored == [None]  # a recent event's key still turns a redelivery away
