"""Slack's rules for incoming requests: signatures, the 3-second ack, retried events."""

from __future__ import annotations

import asyncio

from sqlmodel import select

from bot.messages import Inbound
from storage.models import InboxEntry, Reflection, Response
from tests.fakes import slack_events
from tests.slack_support import ADA, slack_learner, slack_world


async def _recorded(database) -> list[InboxEntry]:
    """Every event the router has recorded."""
    async with database.sessions() as session:
        return list((await session.exec(select(InboxEntry))).all())


async def test_forged_and_stale_requests_get_401_and_change_nothing(database):
    await slack_learner(database, ADA, "Ada Lovelace")
    async with slack_world(database) as world:
        await world.plan_day()
        single = world.posted(ADA)[1]
        posts_before = len(world.fake.calls)
        press = slack_events.interaction(
            slack_events.block_actions(
                ADA,
                message=single,
                channel="D" + ADA[1:],
                action=world.button(single, "Transfer at once"),
                response_url=world.fake.response_url("x"),
            )
        )
        dm = slack_events.event(slack_events.dm(ADA, "next step"))

        forged = await world.post(press, secret="notthesigningsecret")
        stale = await world.post(dm, age=5 * 60 + 30)
        unsigned_status = None
        async with world.http.post(world.url, data=dm[0]) as answer:
            unsigned_status = answer.status
        await world.settle()

        assert forged[0] == stale[0] == unsigned_status == 401
        assert await _recorded(database) == []
        async with database.sessions() as session:
            assert (await session.exec(select(Response))).all() == []
        assert len(world.fake.calls) == posts_before  # no answer, no update, nothing sent


async def test_a_request_just_inside_five_minutes_is_accepted(database):
    await slack_learner(database, ADA, "Ada Lovelace")
    async with slack_world(database) as world:
        await world.plan_day()
        status, _ = await world.post(slack_events.event(slack_events.dm(ADA, "next step")), age=240)
        assert status == 200
        assert len(await _recorded(database)) == 1


async def test_an_event_slack_retries_changes_nothing_the_second_time(database):
    await slack_learner(database, ADA, "Ada Lovelace")
    async with slack_world(database) as world:
        await world.plan_day()
        await world.post(slack_events.event(slack_events.dm(ADA, "next step")))
        sent_before = len(world.fake.called("chat.postMessage"))
        reflection = slack_events.dm(ADA, "I will greet people by name.")
        delivery = slack_events.event(reflection, event_id="Ev0RETRY01")

        first = await world.post(delivery)
        sent_after_first = len(world.fake.called("chat.postMessage"))
        retried = await world.post(
            delivery, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        )

        assert first[0] == retried[0] == 200
        assert sent_after_first == sent_before + 1  # the thanks, once
        assert len(world.fake.called("chat.postMessage")) == sent_after_first
        async with database.sessions() as session:
            assert len((await session.exec(select(Reflection))).all()) == 1


async def test_slack_hears_back_before_the_slow_work_is_done(database):
    await slack_learner(database, ADA, "Ada Lovelace")
    async with slack_world(database) as world:
        release = asyncio.Event()
        handled: list[Inbound] = []
        handle = world.runtime.service.handle

        async def slow(inbound: Inbound) -> None:
            await release.wait()
            handled.append(inbound)
            await handle(inbound)

        world.transport._sink = slow
        status, _ = await world.post_only(slack_events.event(slack_events.dm(ADA, "help")))

        assert status == 200 and handled == []  # acked while the work still waits
        release.set()
        await world.settle()
        assert [type(event).__name__ for event in handled] == ["Text"]
