"""Socket Mode: with an app-level token the transport opens Slack's websocket instead of HTTP."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.ports import TransportDown
from bot.transports.slack import SlackTransport
from tests.fakes import slack_events
from tests.fakes.slack_api import APP_TOKEN, BOT_TOKEN, Call, FakeSlack
from tests.slack_support import ADA, shown, slack_learner, slack_world


async def test_socket_mode_receives_events_over_the_websocket_and_acks_them(database):
    await slack_learner(database, ADA, "Ada Lovelace")
    async with slack_world(database, app_token=APP_TOKEN) as world:
        assert world.transport.web_routes() == []
        assert Call("apps.connections.open", {}) in world.fake.calls
        await world.fake.socket_connected.wait()
        body, _ = slack_events.event(slack_events.dm(ADA, "progress"))

        ack = await world.fake.push("events_api", json.loads(body), "env-1")
        await world.settle()

        assert ack["envelope_id"] == "env-1"
        assert await world.transport.health() is None
        assert "Streak" in shown(world.posted(ADA)[-1])
        async with world.http.post(world.url, data=body) as answer:
            assert answer.status == 404  # no HTTP route in Socket Mode


async def test_socket_mode_with_a_refused_app_token_fails_in_one_line(database):
    fake = FakeSlack()
    await fake.start()
    transport = SlackTransport(
        token=BOT_TOKEN, api_base_url=fake.base_url, app_token="xapp-not-this-one"
    )
    try:
        with pytest.raises(TransportDown) as caught:
            await transport.start(lambda inbound: asyncio.sleep(0))
    finally:
        await transport.stop()
        await fake.stop()
    assert str(caught.value) == ("Slack refused our token: invalid_auth (check SLACK_APP_TOKEN)")
