"""Sending on Slack through the outbox: errors mapped as DESIGN.md says, 429s, the start check."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.messages import Outbound, OutboundKind
from bot.ports import (
    PermanentError,
    RateLimited,
    RecipientGone,
    TransientError,
    TransportDown,
)
from bot.transports.slack import SlackTransport
from storage.models import Delivery, DeliveryStatus, Person, PersonStatus
from tests.fakes.slack_api import BOT_TOKEN, Failure, FakeSlack
from tests.slack_support import ADA, BEA, slack_learner, slack_world


async def _statuses(database) -> dict[str, PersonStatus]:
    """Each person's status by name."""
    async with database.sessions() as session:
        return {p.name: p.status for p in (await session.exec(select(Person))).all()}


async def _rows(database) -> list[Delivery]:
    async with database.sessions() as session:
        return list((await session.exec(select(Delivery).order_by(Delivery.id))).all())


async def test_a_revoked_token_stops_slack_and_marks_nobody_unreachable(database):
    await slack_learner(database, ADA, "Ada Lovelace")
    await slack_learner(database, BEA, "Bea Smith")
    async with slack_world(database) as world:
        world.fake.revoked = "token_revoked"  # the app was uninstalled

        await world.plan_day()

        assert await _statuses(database) == {
            "Ada Lovelace": PersonStatus.ACTIVE,
            "Bea Smith": PersonStatus.ACTIVE,
        }
        rows = await _rows(database)
        assert rows and {row.status for row in rows} == {DeliveryStatus.PENDING}
        assert "token_revoked" in (await world.transport.health() or "")
        assert world.runtime.dispatcher.down_until.get("slack") is not None


@pytest.mark.parametrize("error", ["invalid_auth", "account_inactive"])
async def test_our_credentials_refused_is_transport_down(database, error):
    fake = FakeSlack()
    await fake.start()
    fake.add_user(ADA, "Ada")
    fake.revoked = error
    transport = SlackTransport(token=BOT_TOKEN, api_base_url=fake.base_url)
    try:
        with pytest.raises(TransportDown, match=error):
            await transport.start(None)
        with pytest.raises(TransportDown, match=error):
            await transport.send(f"slack:{ADA}", _notice())
    finally:
        await fake.stop()


def _notice() -> Outbound:
    return Outbound(OutboundKind.NOTICE, "hello")


async def test_a_deactivated_learner_is_unreachable_and_the_others_still_get_lessons(database):
    await slack_learner(database, ADA, "Ada Lovelace")
    await slack_learner(database, BEA, "Bea Smith")
    async with slack_world(database) as world:
        world.fake.users[BEA].deleted = True

        await world.plan_day()

        assert await _statuses(database) == {
            "Ada Lovelace": PersonStatus.ACTIVE,
            "Bea Smith": PersonStatus.UNREACHABLE,
        }
        assert world.posted(ADA) and world.posted(BEA) == []
        assert await world.transport.health() is None


@pytest.mark.parametrize(
    ("failure", "raised"),
    [
        (Failure(status=429, error="ratelimited", retry_after=7), RateLimited),
        (Failure(status=503, error="service_unavailable"), TransientError),
        (Failure(error="internal_error"), TransientError),
        (Failure(error="user_not_found"), RecipientGone),
        (Failure(error="channel_not_found"), RecipientGone),
        (Failure(error="cannot_dm_bot"), RecipientGone),
        (Failure(error="invalid_blocks"), PermanentError),
        (Failure(error="token_revoked"), TransportDown),
    ],
)
async def test_each_slack_error_is_the_typed_error_the_outbox_expects(failure, raised):
    fake = FakeSlack()
    await fake.start()
    fake.add_user(ADA, "Ada")
    transport = SlackTransport(token=BOT_TOKEN, api_base_url=fake.base_url)
    fake.fail("chat.postMessage", failure)
    try:
        with pytest.raises(raised) as caught:
            await transport.send(f"slack:{ADA}", _notice())
        if raised is RateLimited:
            assert caught.value.retry_after == 7
        await transport.send(f"slack:{ADA}", _notice())  # the next call goes through
    finally:
        await fake.stop()
    assert len(fake.called("chat.postMessage")) == 2


async def test_a_429_storm_delivers_everything_once(database):
    learners = [(f"U0STORM{n:03d}", f"Learner {n}") for n in range(8)]
    for user, name in learners:
        await slack_learner(database, user, name)
    async with slack_world(database) as world:
        for user, name in learners:
            world.fake.add_user(user, name)
        storm = [Failure(status=429, error="ratelimited", retry_after=3) for _ in range(25)]
        world.fake.fail("chat.postMessage", *storm)

        await world.plan_day()
        for _ in range(40):
            if all(row.status == DeliveryStatus.SENT for row in await _rows(database)):
                break
            world.clock.advance(timedelta(seconds=5))
            await world.runtime.dispatcher.drain()

        rows = await _rows(database)
        assert {row.status for row in rows} == {DeliveryStatus.SENT}
        per_person = Counter(row.person_id for row in rows)
        async with database.sessions() as session:
            ids = {p.platform_id: p.id for p in (await session.exec(select(Person))).all()}
        for user, _ in learners:
            posted = world.posted(user)
            assert len(posted) == per_person[ids[user]] == 5  # lesson, 3 quizzes, reflection
            assert max(Counter(message["text"] for message in posted).values()) == 1
        attempts = world.fake.called("chat.postMessage")
        assert len(attempts) == len(rows) + 25  # each refused post tried again, nothing more


async def test_start_fails_fast_on_a_bad_token_in_one_line(database):
    fake = FakeSlack()
    await fake.start()
    transport = SlackTransport(token="xoxb-wrong", api_base_url=fake.base_url)
    try:
        with pytest.raises(TransportDown) as caught:
            await transport.start(None)
    finally:
        await fake.stop()
    assert str(caught.value) == "Slack refused our token: invalid_auth (check SLACK_BOT_TOKEN)"
    assert [call.method for call in fake.calls] == ["auth.test"]
