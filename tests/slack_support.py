"""A Slack workspace for tests: the fake Web API, the real transport, the router, the web server.

`slack_world` wires what `run` wires (build_runtime, the WebServer with the
transport's routes) on a simulated clock; requests go to `/slack/events` over
HTTP, signed like Slack's, and the outbox is drained after each, as `run`'s
woken dispatcher would.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from sqlmodel import select

from bot.app import Database, Runtime, build_runtime, build_transports
from bot.clock import SimulatedClock
from bot.config import Settings
from bot.outbox.planner import plan_tick
from bot.transports.slack import SlackTransport
from bot.web import WebServer
from storage.models import Enrolment, Pack, Person, Role, Team
from tests.factories import MONDAY_9AM, add_pack
from tests.fakes import slack_events
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack

ADA, BEA, CY = "U0ADA0001", "U0BEA0002", "U0CY00003"
THREAD_WAIT = 60.0  # seconds for the fake's own loop to start or stop


@dataclass
class SlackWorld:
    """The fake, the transport and the runtime of one test."""

    fake: FakeSlack
    transport: SlackTransport
    runtime: Runtime
    server: WebServer
    clock: SimulatedClock
    http: aiohttp.ClientSession

    @property
    def url(self) -> str:
        """Where Slack posts events, interactivity and slash commands."""
        return f"http://127.0.0.1:{self.server.port}/slack/events"

    async def post(self, request: tuple[str, str], **signing: Any) -> tuple[int, str]:
        """Post one signed request (see `post_only`); wait for its work and send what it queued."""
        status, text = await self.post_only(request, **signing)
        await self.settle()
        return status, text

    async def post_only(
        self,
        request: tuple[str, str],
        *,
        age: float = 0.0,
        secret: str = slack_events.SIGNING_SECRET,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        """Post one signed request; the HTTP status and body as soon as Slack would have them."""
        body, content_type = request
        sent = {
            **slack_events.signed(body, secret=secret, age=age, content_type=content_type),
            **(headers or {}),
        }
        async with self.http.post(self.url, data=body.encode(), headers=sent) as answer:
            return answer.status, await answer.text()

    async def settle(self) -> None:
        """Finish the acked work and send everything due."""
        await self.transport.settled()
        await self.runtime.dispatcher.drain()

    async def plan_day(self) -> None:
        """Plan and send what is due now (the day's lesson)."""
        await plan_tick(sessions=self.runtime.database.sessions, clock=self.clock)
        await self.runtime.dispatcher.drain()

    def posted(self, user: str) -> list[dict[str, Any]]:
        """Messages posted to a person's DM, oldest first, as they stand now (after updates)."""
        channel = "D" + user[1:]
        return [
            self.fake.message(channel, ts)
            for where, ts in sorted(self.fake._messages, key=lambda key: key[1])
            if where == channel
        ]

    def button(self, message: dict[str, Any], label: str) -> dict[str, Any]:
        """The element labelled `label` in a message (a button)."""
        for block in message["blocks"]:
            for element in block.get("elements", []):
                text = element.get("text")
                if isinstance(text, dict) and text.get("text") == label:
                    return dict(element)
        labels = [
            e.get("text", {}).get("text")
            for b in message["blocks"]
            for e in b.get("elements", [])
            if isinstance(e.get("text"), dict)
        ]
        raise AssertionError(f"no button {label!r} in {labels}")

    async def press(
        self,
        user: str,
        message: dict[str, Any],
        label: str,
        *,
        values: dict[str, Any] | None = None,
        key: str = "press",
    ) -> tuple[int, str]:
        """A person presses the button labelled `label` under a message in their DM."""
        payload = slack_events.block_actions(
            user,
            message=message,
            channel="D" + user[1:],
            action=self.button(message, label),
            response_url=self.fake.response_url(key),
            values=values,
        )
        return await self.post(slack_events.interaction(payload))

    def last_view(self) -> dict[str, Any]:
        """The modal opened last."""
        return dict(self.fake.called("views.open")[-1]["view"])

    async def submit(self, user: str, **typed: str) -> tuple[int, str]:
        """A person fills the last modal (block id → text) and submits it."""
        view = self.last_view()
        values = {block: {"input": text} for block, text in typed.items()}
        return await self.post(
            slack_events.interaction(slack_events.view_submission(user, view, values))
        )


def shown(message: dict[str, Any]) -> str:
    """Every text a message's (or view's) blocks show: sections, context and button labels."""
    parts: list[str] = []
    for block in message["blocks"]:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        for element in block.get("elements", []):
            text = element.get("text")
            parts.append(text["text"] if isinstance(text, dict) else str(text or ""))
    return "\n".join(parts)


def labels(message: dict[str, Any]) -> list[str]:
    """The labels of a message's buttons, in order."""
    return [
        element["text"]["text"]
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["type"] == "button"
    ]


async def slack_learner(
    database: Database, user: str, name: str, *, team: str = "front", role: str = Role.LEARNER
) -> Person:
    """A Slack person in a team with pack `care` (made if missing), enrolled when a learner."""
    async with database.sessions() as session:
        stored = (await session.exec(select(Team).where(Team.name == team))).first()
        if stored is None:
            if await session.get(Pack, "care") is None:
                await add_pack(session, types=("single", "multiple", "short"))
            stored = Team(name=team, pack_id="care", workdays="mon,tue,wed,thu,fri,sat,sun")
            session.add(stored)
            await session.flush()
        person = Person(
            name=name,
            role=role,
            team_id=stored.id,
            platform="slack",
            platform_id=user,
            created_at=MONDAY_9AM,
        )
        session.add(person)
        await session.flush()
        if role == Role.LEARNER:
            session.add(Enrolment(person_id=person.id, pack_id="care"))
        await session.commit()
        return person


@asynccontextmanager
async def slack_world(
    database: Database,
    *,
    start: datetime = MONDAY_9AM,
    admins: str = "",
    app_token: str | None = None,
) -> AsyncIterator[SlackWorld]:
    """The whole Slack side of `run` against a fresh fake, on a simulated clock (events over
    Socket Mode when given an app-level token)."""
    fake = FakeSlack()
    await fake.start()
    for user, name in ((ADA, "Ada Lovelace"), (BEA, "Bea Smith"), (CY, "Cy Coach")):
        fake.add_user(user, name, tz="Europe/Paris", email=f"{name.split()[0].lower()}@example.org")
    clock = SimulatedClock(start)
    settings = Settings(
        admins=admins,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=slack_events.SIGNING_SECRET,
        slack_api_base_url=fake.base_url,
        slack_app_token=app_token,
    )
    transport = build_transports(settings, write=None)["slack"]
    assert isinstance(transport, SlackTransport)
    runtime = build_runtime(
        database=database,
        settings=settings,
        clock=clock,
        transports={"slack": transport},
    )
    server = WebServer(host="127.0.0.1", port=0)
    server.add_routes(transport.web_routes())
    await server.start()
    await transport.start(runtime.service.handle)
    try:
        async with aiohttp.ClientSession() as http:
            yield SlackWorld(fake, transport, runtime, server, clock, http)
    finally:
        await transport.stop()
        await server.stop()
        await fake.stop()


@contextmanager
def fake_slack_in_a_thread() -> Iterator[FakeSlack]:
    """The fake Slack server, serving from its own event loop until the block ends."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = FakeSlack()
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result(THREAD_WAIT)
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(THREAD_WAIT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(THREAD_WAIT)
