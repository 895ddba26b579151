"""Telegram under trouble: duplicate updates, a user who blocks the bot and comes back,
a storm of 429s, 200 learners due at the same minute, and the error mapping.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlmodel import select
from telegram.error import RetryAfter
from telegram.warnings import PTBDeprecationWarning

from bot.messages import Outbound, OutboundKind
from bot.ports import (
    PermanentError,
    RateLimited,
    RecipientGone,
    TransientError,
    TransportDown,
)
from bot.transports.telegram import TelegramTransport
from bot.transports.telegram.errors import retry_seconds
from storage.models import Delivery, Enrolment, Person, PersonStatus, Response
from tests.delivery_support import run_for
from tests.telegram_support import (
    SECRET,
    WEBHOOK_URL,
    person_named,
    team_with_pack,
    telegram_person,
    telegram_world,
)

ADA = 4242


async def test_a_duplicate_update_changes_nothing(database):
    team = await team_with_pack(database, types=("true_false",))
    ada = await telegram_person(database, ADA, "Ada", team=team)
    async with telegram_world(database, webhook=True) as world:
        fake = world.fake
        await world.plan_today(ada)
        question = fake.with_button(ADA, "True")
        press = await fake.press(ADA, "True")  # delivered to the webhook, processed
        await fake.until(lambda: question.edits == 1)
        sent_before = len(fake.to(ADA))
        assert await fake.post_webhook(press, secret=SECRET) == 200  # Telegram retries it
        await fake.say(ADA, "/help")
        await fake.until(lambda: len(fake.to(ADA)) == sent_before + 1)
        assert fake.last(ADA).text.startswith("Here is what you can send me")
        assert question.edits == 1
    async with database.sessions() as session:
        assert len((await session.exec(select(Response))).all()) == 1


async def test_a_blocked_user_is_marked_unreachable_and_a_later_start_brings_them_back(database):
    team = await team_with_pack(database, types=("true_false",))
    ada = await telegram_person(database, ADA, "Ada", team=team)
    async with telegram_world(database) as world:
        fake = world.fake
        fake.block(ADA)
        await world.plan_today(ada)
        assert fake.to(ADA) == []
        assert (await person_named(database, "Ada")).status == PersonStatus.UNREACHABLE
        async with database.sessions() as session:
            statuses = set((await session.exec(select(Delivery.status))).all())
        assert "pending" not in statuses  # her queue was cancelled, not left to retry

        fake.unblock(ADA)
        await fake.say(ADA, "/start")
        await fake.until(lambda: len(fake.to(ADA)) == 1)
        assert fake.last(ADA).text.startswith("Here is what you can send me")
    assert (await person_named(database, "Ada")).status == PersonStatus.ACTIVE


async def test_blocking_the_bot_marks_the_person_unreachable_at_once_and_once_only(database):
    team = await team_with_pack(database, types=("true_false",))
    ada = await telegram_person(database, ADA, "Ada", team=team)
    async with telegram_world(database, webhook=True) as world:
        fake = world.fake
        blocked = await fake.block_bot(ADA)  # answered by the webhook once handled
        assert (await person_named(database, "Ada")).status == PersonStatus.UNREACHABLE
        await world.plan_today(ada)
        assert [call for call in fake.calls if str(call.params.get("chat_id")) == str(ADA)] == []

        fake.unblock(ADA)
        await fake.say(ADA, "/start")
        await fake.until(lambda: len(fake.to(ADA)) == 1)
        assert (await person_named(database, "Ada")).status == PersonStatus.ACTIVE
        assert await fake.post_webhook(blocked, secret=SECRET) == 200  # delivered again
        assert (await person_named(database, "Ada")).status == PersonStatus.ACTIVE


async def test_a_storm_of_429s_delays_but_delivers_every_message_once(database):
    team = await team_with_pack(database, tiny=1)
    people = [await telegram_person(database, 100 + n, f"p{n}", team=team) for n in range(5)]
    async with telegram_world(database) as world:
        fake = world.fake
        fake.fail(429, retry_after=7, times=12)
        await world.plan_today(*people)
        await run_for(world.runtime.dispatcher, world.clock, timedelta(minutes=5))
        limited = [c for c in fake.calls if c.status == 429]
        delivered = Counter(m.chat_id for m in fake.messages)
    assert len(limited) == 12
    assert delivered == {100 + n: 1 for n in range(5)}
    async with database.sessions() as session:
        statuses = Counter((await session.exec(select(Delivery.status))).all())
    assert statuses == {"sent": 5}


async def test_200_learners_due_at_one_minute_stay_within_telegram_limits(database):
    team = await team_with_pack(database, tiny=1)
    async with database.sessions() as session:
        session.add_all(
            Person(name=f"p{n}", team_id=team.id, platform="telegram", platform_id=str(1000 + n))
            for n in range(200)
        )
        await session.commit()
        people = list((await session.exec(select(Person))).all())
        session.add_all(Enrolment(person_id=p.id, pack_id="care") for p in people)
        await session.commit()
    async with telegram_world(database) as world:
        fake = world.fake
        start = world.clock.now()
        # Sends overlap, so the simulated clock's time at each request is not exact: check
        # the turns the platform's one pacer booked, which the sends wait for.
        pacer = world.runtime.dispatcher._pacers["telegram"]
        booked: list[int] = []  # microseconds after the start

        def book(chat: str, _book=pacer.book) -> datetime:
            turn = _book(chat)
            booked.append((turn - start) // timedelta(microseconds=1))
            return turn

        pacer.book = book
        await world.plan_today(*people)
        await run_for(world.runtime.dispatcher, world.clock, timedelta(minutes=1))
    chats = Counter(c.params["chat_id"] for c in fake.sent("sendMessage"))
    assert len(chats) == 200 and set(chats.values()) == {1}  # everyone, once
    sends = sorted(booked)
    assert len(sends) == 200
    busiest = max(sum(1 for t in sends if s <= t < s + 1_000_000) for s in sends)
    assert busiest <= 30  # Telegram allows about 30 a second in all; we keep to 29
    assert sends[-1] - sends[0] < 10_000_000  # and not needlessly slow: 200 at 29/s is 6.9 s


@pytest.mark.parametrize(
    ("status", "description", "raised"),
    [
        (403, "Forbidden: bot was blocked by the user", RecipientGone),
        (400, "Bad Request: chat not found", RecipientGone),
        (400, "Bad Request: can't parse entities: x", PermanentError),
        (401, "Unauthorized", TransportDown),
        (429, None, RateLimited),
        (500, "Internal Server Error", TransientError),
        (502, "Bad Gateway", TransientError),
    ],
)
async def test_bot_api_failures_become_the_transport_errors_of_the_port(
    database, status, description, raised
):
    async with telegram_world(database) as world:
        world.fake.fail(  # the send's call, not the background poll that may come first
            status,
            method="sendMessage",
            description=description,
            retry_after=3 if status == 429 else None,
        )
        with pytest.raises(raised) as caught:
            await world.transport.send("telegram:42", Outbound(OutboundKind.NOTICE, "hi"))
    if raised is RateLimited:
        assert caught.value.retry_after == 3
    if raised is TransportDown:
        assert "TELEGRAM_BOT_TOKEN" in str(caught.value)
        assert world.fake.token not in str(caught.value)


@pytest.mark.filterwarnings("error::telegram.warnings.PTBDeprecationWarning")
async def test_a_429_is_read_without_deprecation_warnings(database):
    async with telegram_world(database) as world:
        world.fake.fail(429, method="sendMessage", retry_after=4)
        with pytest.raises(RateLimited) as caught:
            await world.transport.send("telegram:42", Outbound(OutboundKind.NOTICE, "hi"))
    assert caught.value.retry_after == 4


def test_retry_after_is_read_as_a_timedelta_or_as_seconds(monkeypatch: pytest.MonkeyPatch):
    assert retry_seconds(RetryAfter(timedelta(seconds=2.5))) == 2.5
    monkeypatch.setenv("PTB_TIMEDELTA", "false")  # a deployment that keeps PTB's old type
    with pytest.warns(PTBDeprecationWarning):
        assert retry_seconds(RetryAfter(3)) == 3.0


async def ignore(_: object) -> None:
    """An inbound sink that drops everything."""


@pytest.mark.parametrize(
    ("secret", "failure", "expected"),
    [
        (SECRET, 502, "could not start receiving updates: Bad Gateway"),
        (None, None, "set TELEGRAM_WEBHOOK_SECRET too"),
    ],
)
async def test_webhook_mode_that_cannot_start_says_why_in_one_line(
    fake_telegram, secret, failure, expected
):
    if failure is not None:
        fake_telegram.fail(failure, method="setWebhook", description="Bad Gateway")
    transport = TelegramTransport(
        token=fake_telegram.token,
        base_url=fake_telegram.base_url,
        webhook_url=WEBHOOK_URL,
        webhook_secret=secret,
    )
    with pytest.raises(TransportDown, match=expected):
        await transport.start(ignore)
    await transport.stop()
    assert fake_telegram.webhook == {}
