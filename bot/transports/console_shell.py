"""`servicecoach shell`: be a learner in the terminal, on the real engine and console transport.

Time is simulated: it starts at the wall-clock time (or where the last session
left off) and jumps to the next lesson when asked (`next`), or by itself with
`--fast` once every question and the reflection of the day are answered. Because
time moves ahead, the shell writes only to a database of its own: its learners
are console people of the team `shell`, and a database holding anyone else is
refused. Each line typed becomes the inbound event a chat platform would deliver:
a number answers an open number question, else it (or a letter) presses a button
of the first unanswered question; `/name args` is a command; anything else is
text (typed answers, reflections, or commands written out like `progress`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from rich.text import Text as RichText
from sqlalchemy import func, inspect
from sqlmodel import col, or_, select
from sqlmodel.sql.expression import SelectOfScalar

from bot.admin.enrolment import enrol, loaded_pack_ids
from bot.app import Database, Runtime, build_runtime
from bot.clock import SimulatedClock
from bot.coaching.calendar import calendar_for, local_date, send_instant
from bot.config import Settings
from bot.conversation.answers import latest_day, open_typed_prompt
from bot.conversation.reflections import awaiting_reflection
from bot.errors import UserError
from bot.messages import Answer, Command, Inbound, Outbound, Text
from bot.outbox.planner import plan_tick
from bot.outbox.render import render
from bot.transports.console import ConsoleTransport, headed, markdown_text, render_rich
from content import read_pack, shipped_pack_path
from content.store import load_pack
from storage.models import (
    PROMPT_KINDS,
    Delivery,
    DeliveryStatus,
    Item,
    Person,
    Response,
    Role,
    Team,
)

STARTER_PACK = "service-everyone"
SHELL_TEAM = "shell"
T = TypeVar("T")
LOOKAHEAD_DAYS = 21
HELP = (
    "Type a number (1, 2, …) or letter (a, b, …) to press a button of the first unanswered "
    "question (while a number question is open, a number answers it: press buttons with "
    "letters then), any text to reply, /help for the bot's commands, `next` to skip to the "
    "next lesson, `quit` to leave."
)

PICKED = "(picked; pick more or press the number of Done to send your answer)"


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


async def refuse_foreign_database(database: Database, *, shown: str) -> None:
    """Raise a one-line `UserError` when the database holds people the shell did not create.

    The shell moves time ahead, so it must never write to a database `run` uses:
    anyone but a console learner of the team `shell` means it is not the shell's.
    """
    async with database.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    if "person" not in tables:
        return
    async with database.sessions() as session:
        statement = (
            select(Person.name)
            .outerjoin(Team, col(Team.id) == Person.team_id)
            .where(or_(Person.platform != "console", col(Team.name).is_distinct_from(SHELL_TEAM)))
            .limit(1)
        )
        stranger = (await session.exec(statement)).first()
    if stranger is not None:
        raise UserError(
            f"{shown} holds people the shell did not create (such as {stranger!r}); the shell "
            "runs on simulated time and would leave future-dated lessons there, so use a new "
            "file with --db, or leave --db out to use the shell's own database"
        )


async def ensure_learner(
    database: Database, *, name: str, settings: Settings, now: datetime
) -> Learner:
    """The console learner called `name`, created and enrolled in the team `shell` if new."""
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
            team = (await session.exec(select(Team).where(Team.name == SHELL_TEAM))).first()
            if team is None:
                team = Team(name=SHELL_TEAM)
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


async def resume_time(database: Database, *, learner: Learner, now: datetime) -> datetime:
    """Where the simulated clock starts: now, or later if an earlier session moved ahead."""
    async with database.sessions() as session:
        statement = select(func.max(Delivery.sent_at)).where(
            Delivery.person_id == learner.person_id
        )
        latest = (await session.exec(statement)).one()
    return max(now, latest) if latest is not None else now


class Shell:
    """One learner's terminal session: prints what the bot sends, turns lines into events."""

    def __init__(
        self,
        *,
        runtime: Runtime,
        clock: SimulatedClock,
        transport: ConsoleTransport,
        learner: Learner,
        write: Callable[[RichText], None],
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
            header = f"[{self._clock.now():%a %d %b %H:%M}] bot:"
            self._write(headed(header, render_rich(message.outbound)).append("\n"))
        self._shown = len(self._transport.sent)

    async def start(self) -> None:
        """Send anything already due (the welcome first, then today's lesson) and show it."""
        await self._runtime.dispatcher.drain()
        await self._deliver()
        self._write(markdown_text(HELP))

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
            person = await session.get_one(Person, self._learner.person_id)
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
        self._write(RichText(f"Nothing to send in the next {LOOKAHEAD_DAYS} days."))
        return False

    async def _open_question(self) -> Outbound | None:
        """The first unanswered question with buttons of the newest day (even from a past run)."""
        async with self._runtime.database.sessions() as session:
            statement = _unanswered(select(Delivery), self._learner.person_id).order_by(
                col(Delivery.sent_at), col(Delivery.id)
            )
            for delivery in (await session.exec(statement)).all():
                outbound = await render(session, delivery)
                if outbound.choices:
                    return outbound
        return None

    async def _open_typed_type(self) -> str | None:
        """The item type of the first open question answered by typing, if any."""
        async with self._runtime.database.sessions() as session:
            prompt = await open_typed_prompt(session, person_id=self._learner.person_id)
            item = await session.get(Item, prompt.item_id) if prompt and prompt.item_id else None
            return item.type if item is not None else None

    async def parse(self, line: str) -> Inbound | None:
        """The event a typed line stands for; None when it presses no existing button."""
        event_id = f"shell-{uuid.uuid4().hex}"
        address = self._learner.address
        if line.startswith("/") and len(line) > 1:
            name, *args = line[1:].split()
            return Command(address, event_id, name, tuple(args))
        index = _button_index(line)
        if index is None:
            return Text(address, event_id, line)
        typed = await self._open_typed_type()
        if line.isdigit() and typed == "numeric":
            return Text(address, event_id, line)
        question = await self._open_question()
        if (
            question is not None
            and question.delivery_id is not None
            and index < len(question.choices)
        ):
            choice = question.choices[index].choice_id
            return Answer(address, event_id, question.delivery_id, (choice,))
        return Text(address, event_id, line) if typed is not None else None

    async def still_open(self) -> str | None:
        """What the newest day still asks of the learner, in words; None when nothing."""
        async with self._runtime.database.sessions() as session:
            statement = _unanswered(select(func.count(col(Delivery.id))), self._learner.person_id)
            questions = (await session.exec(statement)).one()
            reflection = await awaiting_reflection(session, person_id=self._learner.person_id)
        parts = [f"{questions} question{'s' if questions != 1 else ''}"] if questions else []
        parts += ["the reflection"] if reflection is not None else []
        return " and ".join(parts) or None

    async def _skip(self) -> None:
        """`next`: say what is left unanswered, then move to the next lesson."""
        left = await self.still_open()
        if left is not None:
            self._write(RichText(f"Skipped, unanswered: {left}."))
        await self.next_delivery()

    async def close(self) -> None:
        """Write what the session's answers left in memory (their calibration counts)."""
        await self._runtime.service.write_counts()

    async def handle_line(self, line: str, *, fast: bool) -> bool:
        """Act on one typed line; False when the learner wants to leave."""
        line = line.strip()
        if line in ("quit", "exit"):
            return False
        if line == "next":
            await self._skip()
            return True
        if not line:
            left = await self.still_open() if fast else None
            if left is not None:
                self._write(markdown_text(f"Still open: {left}. Answer, or type `next` to skip."))
            elif fast:
                await self.next_delivery()
            return True
        inbound = await self.parse(line)
        if inbound is None:
            self._write(RichText("No unanswered question has that button."))
            return True
        self._clock.advance(timedelta(minutes=1))
        before = len(self._transport.sent)
        await self._runtime.service.handle(inbound)
        await self._runtime.dispatcher.drain()  # no dispatcher loop here: send the reply now
        if isinstance(inbound, Answer) and len(self._transport.sent) == before:
            self._write(RichText(PICKED))
        self.show_new()
        if fast and await self.still_open() is None:
            await self.next_delivery()
        return True


def _unanswered(statement: SelectOfScalar[T], person_id: int) -> SelectOfScalar[T]:
    """`statement` narrowed to the newest day's sent questions that have no answer yet."""
    return statement.outerjoin(Response, col(Response.delivery_id) == Delivery.id).where(
        Delivery.person_id == person_id,
        col(Delivery.kind).in_(PROMPT_KINDS),
        Delivery.status == DeliveryStatus.SENT,
        col(Response.id).is_(None),
        col(Delivery.refers_to).is_(None),  # a copy (`today`) is answered as the first
        Delivery.local_date == latest_day(person_id),
    )


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
    write: Callable[[RichText], None],
) -> Shell:
    """A shell on this database, speaking for `learner`."""
    transport = ConsoleTransport()
    runtime = build_runtime(
        database=database, settings=settings, clock=clock, transports={"console": transport}
    )
    return Shell(runtime=runtime, clock=clock, transport=transport, learner=learner, write=write)
