"""Nudges: one per learner and day, after N hours, inside working hours, never when answered."""

from datetime import timedelta

from sqlmodel import select

from bot.clock import SimulatedClock
from bot.conversation.router import InboundRouter
from bot.messages import Answer
from bot.outbox.nudges import nudge_tick
from storage.models import Delivery, Item
from tests.factories import MONDAY_9AM, add_pack, add_person, add_team, send


async def world(database, **person_fields):
    """Ada with two quiz prompts sent Monday 9:00."""
    async with database.sessions() as session:
        team = await add_team(session)
        ada = await add_person(session, "ada", team=team, **person_fields)
        await add_pack(session, types=("single", "true_false"))
        prompts = [
            await send(session, ada, kind="quiz", day=MONDAY_9AM.date(), sent_at=MONDAY_9AM, item=i)
            for i in (await session.exec(select(Item).order_by(Item.id))).all()
        ]
        await session.commit()
    return SimulatedClock(MONDAY_9AM), ada, prompts


async def nudges(database):
    """Every nudge row."""
    async with database.sessions() as session:
        return (await session.exec(select(Delivery).where(Delivery.kind == "nudge"))).all()


async def test_one_nudge_after_the_delay_covering_the_day(database):
    clock, _, _ = await world(database)
    clock.advance(timedelta(hours=2, minutes=59))
    assert await nudge_tick(sessions=database.sessions, clock=clock) == 0
    clock.advance(timedelta(minutes=1))
    assert await nudge_tick(sessions=database.sessions, clock=clock) == 1
    clock.advance(timedelta(hours=1))
    assert await nudge_tick(sessions=database.sessions, clock=clock) == 0
    [nudge] = await nudges(database)
    assert nudge.delivery_key == "nudge:2026-11-23"
    assert "2 of today's questions" in nudge.payload["text"]


async def test_answered_prompts_are_not_nudged(database):
    clock, ada, prompts = await world(database)
    service = InboundRouter(sessions=database.sessions, clock=clock)
    await service.handle(Answer(ada.address, "e1", prompts[0].id, ("c1",)))
    await service.handle(Answer(ada.address, "e2", prompts[1].id, ("true",)))
    clock.advance(timedelta(hours=4))
    assert await nudge_tick(sessions=database.sessions, clock=clock) == 0


async def test_no_nudge_after_working_hours(database):
    clock, _, _ = await world(database, timezone="America/New_York")
    # 9:00 UTC is 4:00 in New York; at 22:00 UTC (17:00 there) the working day is over.
    clock.set(MONDAY_9AM + timedelta(hours=13))
    assert await nudge_tick(sessions=database.sessions, clock=clock) == 0
    clock.set(MONDAY_9AM + timedelta(hours=12))
    assert await nudge_tick(sessions=database.sessions, clock=clock) == 1


async def test_no_nudge_for_yesterdays_prompts(database):
    clock, _, _ = await world(database)
    clock.advance(timedelta(days=1, hours=3))
    assert await nudge_tick(sessions=database.sessions, clock=clock) == 0


async def test_paused_learner_is_not_nudged(database):
    clock, _, _ = await world(database, paused_until=MONDAY_9AM.date() + timedelta(days=7))
    clock.advance(timedelta(hours=4))
    assert await nudge_tick(sessions=database.sessions, clock=clock) == 0
