"""`servicecoach shell`: be a learner in the terminal, on the real engine and console transport.

Time is simulated: it starts at the wall-clock time and jumps to the next
lesson when asked (`next`), or by itself with `--fast` once everything sent
has been answered. Each line typed becomes the inbound event a chat platform
would deliver: a number or letter presses a button of the first unanswered question,
`/name args` is a command, anything else is text (typed answers, reflections,
or commands written out like `progress`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select

from bot.app import Database, Runtime, build_runtime
from bot.clock import SimulatedClock
from bot.coaching.answers import PROMPT_KINDS, latest_day
from bot.coaching.calendar import calendar_for, local_date, send_instant
from bot.coaching.enrolment import enrol, loaded_pack_ids
from bot.coaching.planner import plan_tick
from bot.coaching.render import render
from bot.config import Settings
from bot.errors import UserError
from bot.messages import Answer, Command, Inbound, Outbound, Text
from bot.transports.console import ConsoleTransport, render_text
from content import read_pack, shipped_pack_path
from content.store import load_pack
from storage.models import Delivery, DeliveryStatus, Person, Response, Role, Team

STARTER_PACK = "service-everyone"
LOOKAHEAD_DAYS = 21
HELP = (
    "Type a number (1, 2, …) or letter (a, b, …) to press a button of the first unanswered "
    "question, "
    "any text to reply, /help for the bot's commands, `next` to skip to the next lesson, "
    "`quit` to leave."
)

PICKED = "(picked; pick more or press the number of Done to send your answer)\n"


@dataclass(frozen=True, slots=True)
class Learner:
    """Who the shell speaks for."""

    person_id: int
    address: str


async def _ensure_pack(database: Database, now: datetime) -> None:
    """Load the starter pack when no pack is loaded yet."""
    async with database.sessions.begin() as session:
        if await loaded_pack_ids(session):
            return
        path = shipped_pack_path(STARTER_PACK)
        pack, _ = read_pack(path) if path is not None else (None, [])
        if pack is None:
            raise UserError("no pack is loaded and the starter pack cannot be read")
        await load_pack(session, pack, now=now)


async def ensure_learner(
    database: Database, *, name: str, settings: Settings, now: datetime
) -> Learner:
    """The console learner called `name`, created and enrolled in the default team if new."""
    await _ensure_pack(database, now)
    platform_id = name.strip().lower()
    if not platform_id or any(c.isspace() for c in platform_id):
        raise UserError(f"--learner {name!r}: use one word, e.g. --learner sam")
    async with database.sessions.begin() as session:
        person = (
            await session.exec(
                select(Person).where(
                    Person.platform == "console", Person.platform_id == platform_id
                )
            )
        ).first()
        if person is None:
            team = (
                await session.exec(select(Team).where(Team.name == settings.default_team))
            ).first()
            if team is None:
                team = Team(name=settings.default_team)
                session.add(team)
                await session.flush()
            person = Person(
                name=name,
                role=Role.LEARNER,
                team_id=team.id,
                platform="console",
                platform_id=platform_id,
                timezone=settings.default_timezone,
                send_time=settings.default_send_time,
                created_at=now,
            )
            session.add(person)
            await session.flush()
            await enrol(session, person=person, team=team, now=now)
        return Learner(person_id=person.id, address=person.address)


class Shell:
    """One learner's terminal session: prints what the bot sends, turns lines into events."""

    def __init__(
        self,
        *,
        runtime: Runtime,
        clock: SimulatedClock,
        transport: ConsoleTransport,
        learner: Learner,
        write: Callable[[str], None],
    ) -> None:
        self._runtime = runtime
        self._clock = clock
        self._transport = transport
        self._learner = learner
        self._write = write
        self._shown = 0

    def show_new(self) -> None:
        """Print every message sent to the learner since the last call."""
        for message in self._transport.sent[self._shown :]:
            if message.address != self._learner.address or message.edited:
                continue
            when = f"{self._clock.now():%a %d %b %H:%M}"
            self._write(f"[{when}] bot:\n{render_text(message.outbound)}\n")
        self._shown = len(self._transport.sent)

    async def start(self) -> None:
        """Send anything already due (the welcome first, then today's lesson) and show it."""
        await self._runtime.dispatcher.drain()
        await self._deliver()
        self._write(HELP + "\n")

    async def _deliver(self) -> int:
        """Plan and send what is due now; how many rows were planned."""
        planned = await plan_tick(
            sessions=self._runtime.database.sessions,
            clock=self._clock,
            person_ids=[self._learner.person_id],
        )
        await self._runtime.dispatcher.drain()
        self.show_new()
        return planned.rows

    async def next_delivery(self) -> bool:
        """Jump the clock to the learner's next lesson (or review) day and deliver it."""
        async with self._runtime.database.sessions() as session:
            person = await session.get(Person, self._learner.person_id)
            team = await session.get(Team, person.team_id) if person.team_id else None
        calendar = calendar_for(team)
        now = self._clock.now()
        day = local_date(now, person.timezone)
        for offset in range(LOOKAHEAD_DAYS):
            candidate = day + timedelta(days=offset)
            instant = send_instant(candidate, person.send_time, person.timezone)
            if instant <= now or not calendar.is_working_day(candidate):
                continue
            self._clock.set(instant)
            if await self._deliver():
                return True
        self._write(f"Nothing to send in the next {LOOKAHEAD_DAYS} days.\n")
        return False

    async def _open_question(self) -> Outbound | None:
        """The first unanswered question with buttons of the newest day (even from a past run)."""
        async with self._runtime.database.sessions() as session:
            statement = (
                select(Delivery)
                .outerjoin(Response, col(Response.delivery_id) == Delivery.id)
                .where(
                    Delivery.person_id == self._learner.person_id,
                    col(Delivery.kind).in_(PROMPT_KINDS),
                    Delivery.status == DeliveryStatus.SENT,
                    col(Response.id).is_(None),
                    Delivery.local_date == latest_day(self._learner.person_id),
                )
                .order_by(col(Delivery.sent_at), col(Delivery.id))
            )
            for delivery in (await session.exec(statement)).all():
                outbound = await render(session, delivery)
                if outbound.choices:
                    return outbound
        return None

    async def parse(self, line: str) -> Inbound | None:
        """The event a typed line stands for; None when it presses no existing button."""
        event_id = f"shell-{uuid.uuid4().hex}"
        address = self._learner.address
        if line.startswith("/") and len(line) > 1:
            name, *args = line[1:].split()
            return Command(address, event_id, name, tuple(args))
        index = _button_index(line)
        if index is not None:
            question = await self._open_question()
            if question is None or index >= len(question.choices):
                return None
            choice = question.choices[index].choice_id
            return Answer(address, event_id, question.delivery_id, choice)
        return Text(address, event_id, line)

    async def _waiting(self) -> bool:
        """True while a question of the newest day is unanswered."""
        async with self._runtime.database.sessions() as session:
            statement = (
                select(Delivery.id)
                .outerjoin(Response, col(Response.delivery_id) == Delivery.id)
                .where(
                    Delivery.person_id == self._learner.person_id,
                    col(Delivery.kind).in_(PROMPT_KINDS),
                    Delivery.status == DeliveryStatus.SENT,
                    col(Response.id).is_(None),
                    Delivery.local_date == latest_day(self._learner.person_id),
                )
            )
            return (await session.exec(statement.limit(1))).first() is not None

    async def handle_line(self, line: str, *, fast: bool) -> bool:
        """Act on one typed line; False when the learner wants to leave."""
        line = line.strip()
        if line in ("quit", "exit"):
            return False
        if line == "next" or (not line and fast):
            await self.next_delivery()
            return True
        if not line:
            return True
        inbound = await self.parse(line)
        if inbound is None:
            self._write("No unanswered question has that button.\n")
            return True
        self._clock.advance(timedelta(minutes=1))
        before = len(self._transport.sent)
        await self._runtime.service.handle(inbound)
        if isinstance(inbound, Answer) and len(self._transport.sent) == before:
            self._write(PICKED)
        self.show_new()
        if fast and not await self._waiting():
            await self.next_delivery()
        return True


def _button_index(line: str) -> int | None:
    """`2` → 1 and `b` → 1: which button a typed line presses, if it is one."""
    if line.isdigit() and 0 < int(line) < 100:
        return int(line) - 1
    if len(line) == 1 and line.isalpha() and line.isascii():
        return ord(line.lower()) - ord("a")
    return None


def open_shell(
    *,
    database: Database,
    settings: Settings,
    clock: SimulatedClock,
    learner: Learner,
    write: Callable[[str], None],
) -> Shell:
    """A shell on this database, speaking for `learner`."""
    transport = ConsoleTransport()
    runtime = build_runtime(
        database=database, settings=settings, clock=clock, transports={"console": transport}
    )
    return Shell(runtime=runtime, clock=clock, transport=transport, learner=learner, write=write)
