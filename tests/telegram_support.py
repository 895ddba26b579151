"""A Telegram world for scenario tests: the fake Bot API, the real transport and runtime.

The transport runs python-telegram-bot's real `Application` against
`tests.fakes.telegram_api.FakeTelegram`; the router handles what it receives,
and the dispatcher's own loop (woken by the router) sends on a simulated clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import select

from bot.app import Database, Runtime, build_runtime
from bot.clock import SimulatedClock
from bot.config import Settings
from bot.outbox.planner import plan_tick
from bot.transports.console import ConsoleTransport
from bot.transports.telegram import TelegramTransport
from bot.web import WebServer
from storage.models import Enrolment, Person, Role, Team
from tests.factories import MONDAY_9AM, add_pack, add_team, add_tiny_pack
from tests.fakes.telegram_api import FakeTelegram

WEBHOOK_URL = "https://bot.example.org/telegram/webhook"
SECRET = "s3cret-token"


@dataclass
class TelegramWorld:
    """The fake, the transport on it, the runtime and its clock."""

    fake: FakeTelegram
    transport: TelegramTransport
    runtime: Runtime
    clock: SimulatedClock

    async def plan_today(self, *people: Person) -> None:
        """Plan today's lesson for these learners and send it (as `deliver now` does)."""
        ids = [person.id for person in people]
        await plan_tick(
            sessions=self.runtime.database.sessions,
            clock=self.clock,
            person_ids=ids,
            now_for_everyone=True,
        )
        await self.runtime.dispatcher.drain()


@asynccontextmanager
async def telegram_world(
    database: Database,
    *,
    webhook: bool = False,
    clock: SimulatedClock | None = None,
    admins: str = "",
    fake: FakeTelegram | None = None,
) -> AsyncIterator[TelegramWorld]:
    """A started transport on a fresh fake (or on `fake`, which outlives it: a restart of the
    bot), the router receiving, the dispatcher running."""
    own_fake = fake is None
    if fake is None:
        fake = FakeTelegram()
        await fake.start()
    transport = TelegramTransport(
        token=fake.token,
        base_url=fake.base_url,
        webhook_url=WEBHOOK_URL if webhook else None,
        webhook_secret=SECRET if webhook else None,
    )
    clock = clock or SimulatedClock(MONDAY_9AM + timedelta(minutes=5))
    runtime = build_runtime(
        database=database,
        settings=Settings(admins=admins),
        clock=clock,
        transports={"telegram": transport, "console": ConsoleTransport()},
    )
    server = WebServer(host="127.0.0.1", port=0)
    server.add_routes(transport.web_routes())
    await server.start()
    fake.webhook_target = f"http://127.0.0.1:{server.port}/telegram/webhook"
    await transport.start(runtime.service.handle)
    await runtime.dispatcher.take_back_own_claims()  # as `run` does before it sends
    sending = asyncio.create_task(runtime.dispatcher.run())
    try:
        yield TelegramWorld(fake, transport, runtime, clock)
    finally:
        await runtime.dispatcher.stop()
        await sending
        await transport.stop()
        await server.stop()
        if own_fake:
            await fake.stop()


async def team_with_pack(
    database: Database, *, types: tuple[str, ...] = ("single",), tiny: int = 0
) -> Team:
    """Team `front` with pack `care`: one lesson with an item per type, or `tiny` plain lessons."""
    async with database.sessions() as session:
        team = await add_team(session)
        if tiny:
            await add_tiny_pack(session, lessons=tiny)
        else:
            await add_pack(session, types=types)
        await session.commit()
    return team


async def telegram_person(
    database: Database,
    chat_id: int,
    name: str,
    *,
    team: Team | None = None,
    role: str = Role.LEARNER,
    pack_id: str | None = "care",
) -> Person:
    """A person in a Telegram private chat (enrolled in `pack_id` when a learner)."""
    async with database.sessions() as session:
        person = Person(
            name=name,
            role=role,
            team_id=team.id if team else None,
            platform="telegram",
            platform_id=str(chat_id),
        )
        session.add(person)
        await session.flush()
        if role == Role.LEARNER and pack_id is not None:
            session.add(Enrolment(person_id=person.id, pack_id=pack_id))
        await session.commit()
        return person


async def person_named(database: Database, name: str) -> Person:
    """The person called `name`, fresh from the database."""
    async with database.sessions() as session:
        return (await session.exec(select(Person).where(Person.name == name))).one()
