"""The demo's simulation: a cohort living through simulated weeks on the console transport.

Nothing here plans, sends or grades: the loop only moves a `SimulatedClock`,
runs the same tick jobs `run` schedules (`Runtime.ticks()`), and turns what
the console transport delivered into the inbound events people would send
back (button presses, typed answers, reflections, a coach's claim and
resolve), which go through `InboundRouter.handle` like any platform event.
"""

from __future__ import annotations

import heapq
import itertools
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.admin.enrolment import enrol_all
from bot.admin.teams import TeamChanges, configure_team
from bot.app import Database, Runtime, build_runtime
from bot.clock import SimulatedClock
from bot.coaching.calendar import local_date
from bot.config import Settings
from bot.conversation.router import InboundRouter
from bot.demo.personas import (
    COACH_HOURS,
    COACH_NAME,
    COACH_ZONE,
    DemoLearner,
    cohort,
    learner_rng,
)
from bot.errors import UserError
from bot.messages import Answer, CoachAction, Inbound, OutboundKind, Text
from bot.outbox.planner import PlanResult
from bot.outbox.render import FOLLOW_UP_HEADING
from bot.transports.console import ConsoleMessage, ConsoleTransport
from content import read_pack, shipped_pack_path
from content.problems import errors
from content.store import load_pack
from storage.models import Delivery, Item, Person, Role

STARTER_PACK = "service-everyone"
TEAM = "front desk"
CALENDAR = "GB-ENG"
ADMIN = "console:ops"
FIRST_MONDAY = date(2026, 3, 23)  # 20 days from here cross UK and Sydney DST changes and Easter
START = datetime(2026, 3, 22, 12, 0, tzinfo=UTC)  # Monday 00:00 in Sydney is before this
TRANSCRIPT_DAYS = 3  # shown in full; later days show their lessons only
DAILY_JOBS = {"silence": timedelta(days=1)}
DISPATCH = "dispatch"
SLOT = timedelta(minutes=10)

_STEADY = (
    "I'll try greeting people before I ask for their reference number.",
    "Saying what happens next would have saved a call back today.",
    "I used plain words in an email instead of our form names; it felt clearer.",
    "A customer was upset about a delay; telling them when I'd call back calmed things.",
)
_HELP = (
    "Honestly I'm stuck with the difficult calls; I need help.",
    "I'm confused about when to offer extra services. Can a coach help?",
)
_TRIED = (
    "I tried it twice this week; one caller thanked me for it.",
    "I tried it once. It felt odd at first, then natural.",
    "Not yet: the desk was too busy. I'll try it tomorrow.",
)
_THANKS = "Thanks, that helps. I'll try it tomorrow."


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """What to simulate."""

    learners: int = 24
    days: int = 20
    seed: int = 1
    step: timedelta = timedelta(hours=1)
    pack: Path | None = None  # default: the starter pack

    @property
    def end(self) -> datetime:
        """The last simulated instant."""
        return START + timedelta(days=self.days)


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    """One line of a learner's conversation: a message to them or something they did."""

    at: datetime
    from_learner: bool
    text: str
    kind: str = ""  # the message's kind for lines from the bot


@dataclass
class DemoRun:
    """What the simulation leaves behind besides the database."""

    config: DemoConfig
    learners: list[DemoLearner]
    transport: ConsoleTransport
    transcripts: dict[str, list[TranscriptLine]] = field(default_factory=dict)
    lessons_in_pack: int = 0
    pack_title: str = ""


@dataclass(order=True)
class _Planned:
    """An inbound event someone will send at `at`."""

    at: datetime
    seq: int
    inbound: Inbound = field(compare=False)
    note: str | None = field(compare=False, default=None)


class Agenda:
    """Inbound events waiting for their simulated moment, earliest first."""

    def __init__(self) -> None:
        self._heap: list[_Planned] = []
        self._seq = itertools.count()

    def add(self, at: datetime, inbound: Inbound, note: str | None = None) -> None:
        """Plan `inbound` for the first slot boundary at or after `at`, in the order added.

        People act on a 10-minute grid, so the replies of one moment go out together.
        """
        slot = SLOT.total_seconds()
        at = datetime.fromtimestamp(-(-at.timestamp() // slot) * slot, UTC)
        heapq.heappush(self._heap, _Planned(at, next(self._seq), inbound, note))

    def pop_moment(self, limit: datetime) -> list[_Planned]:
        """Every event of the earliest moment before `limit`, removed, in order."""
        group: list[_Planned] = []
        while self._heap and self._heap[0].at < limit:
            if group and self._heap[0].at != group[0].at:
                break
            group.append(heapq.heappop(self._heap))
        return group


def load_starter(path: Path | None) -> Any:
    """The pack to teach: `path`, or the shipped starter pack."""
    folder = path or shipped_pack_path(STARTER_PACK)
    if folder is None:
        raise UserError(f"the starter pack {STARTER_PACK!r} is not installed")
    pack, problems = read_pack(folder)
    if pack is None or errors(problems):
        raise UserError(f"{folder}: the pack has problems; run `packs validate {folder}`")
    return pack


async def console_team(
    session: AsyncSession,
    *,
    name: str,
    pack_id: str,
    coach: Person,
    learners: Sequence[tuple[str, str, str, str]],
    now: datetime,
    holidays: str | None = None,
    policy: tuple[str, ...] = (),
) -> list[Person]:
    """A Monday-to-Friday team of console learners (name, id, zone, send time) and its coach.

    The learners are enrolled in `pack_id`; `policy` holds `KEY=VALUE` overrides.
    """
    session.add(coach)
    await session.flush()
    changes = TeamChanges(
        pack_id=pack_id,
        coaches=(coach.address,),
        holidays=holidays,
        workdays="mon-fri",
        assignments=policy,
        create=True,
    )
    team = (await configure_team(session, name=name, changes=changes, now=now)).team
    people = [
        Person(
            name=learner,
            role=Role.LEARNER,
            team_id=team.id,
            platform="console",
            platform_id=platform_id,
            timezone=timezone,
            send_time=send_time,
            created_at=now,
        )
        for learner, platform_id, timezone, send_time in learners
    ]
    session.add_all(people)
    await session.flush()
    await enrol_all(session, people=people, pack_id=pack_id, now=now)
    return people


async def _set_up(
    session: AsyncSession, *, config: DemoConfig, learners: Sequence[DemoLearner]
) -> tuple[str, int]:
    """Load the pack, create the team, coach and learners, enrol them; (title, lessons)."""
    if (await session.exec(select(Person.id).limit(1))).first() is not None:
        raise UserError("the demo needs an empty database; give --db a new file")
    pack = load_starter(config.pack)
    await load_pack(session, pack, now=START)
    coach = Person(
        name=COACH_NAME,
        role=Role.COACH,
        platform="console",
        platform_id=COACH_NAME.lower(),
        timezone=COACH_ZONE,
    )
    people = [
        (learner.name, learner.address.partition(":")[2], learner.timezone, learner.send_time)
        for learner in learners
    ]
    await console_team(
        session,
        name=TEAM,
        pack_id=pack.meta.id,
        coach=coach,
        learners=people,
        now=START,
        holidays=CALENDAR,
    )
    return pack.meta.title, len(pack.lessons)


def choice_answer(item: Item, right: bool, rng: random.Random) -> list[str]:
    """The button presses answering a choice item rightly or wrongly."""
    if item.type == "true_false":
        return [str(bool(item.data["answer"]) == right).lower()]
    choices = item.data["choices"]
    correct = [index for index, choice in enumerate(choices) if choice["correct"]]
    wrong = [index for index in range(len(choices)) if index not in correct]
    if item.type == "single":
        return [f"c{rng.choice(correct if right or not wrong else wrong)}"]
    picked = set(correct)
    if not right:
        picked ^= {rng.randrange(len(choices))}
        picked = picked or {rng.choice(wrong or correct)}
    return [f"c{index}" for index in sorted(picked)] + ["done"]


def typed_answer(item: Item, right: bool) -> str:
    """A typed answer to a short or numeric item, right or wrong."""
    data = item.data
    if item.type == "short":
        return data["accepted"][0] if right else "not sure"
    if data.get("answer") is not None:
        target = float(data["answer"])
    else:
        low, high = data["range"]
        target = (low + high) / 2
    wrong = target * 3 + 17 + float(data.get("tolerance") or 0) * 5
    value = target if right else wrong
    return f"{value:g}"


class Cohort:
    """The simulated people: they read what the console transport delivered and react."""

    def __init__(
        self,
        *,
        learners: Sequence[DemoLearner],
        seed: int,
        agenda: Agenda,
        database: Database,
        run: DemoRun,
    ) -> None:
        self._learners = {learner.address: learner for learner in learners}
        self._rngs = {learner.address: learner_rng(seed, learner.name) for learner in learners}
        self._coach_rng = learner_rng(seed, COACH_NAME)
        self._agenda = agenda
        self._database = database
        self._run = run
        self._seen = 0
        self._event_ids = itertools.count(1)
        self._transcript_until = transcript_until()
        country, _, subdiv = CALENDAR.partition("-")
        self._coach_holidays = holidays.country_holidays(country, subdiv=subdiv or None)

    def _event_id(self) -> str:
        """A fresh platform event id."""
        return f"demo-{next(self._event_ids)}"

    def record(
        self, address: str, at: datetime, text: str, *, from_learner: bool, kind: str = ""
    ) -> None:
        """Add a line to the learner's transcript: everything on their first days, then lessons."""
        learner = self._learners.get(address)
        if learner is None:
            return
        first_days = local_date(at, learner.timezone) < self._transcript_until
        if first_days or kind == OutboundKind.LESSON:
            lines = self._run.transcripts.setdefault(learner.name, [])
            lines.append(TranscriptLine(at, from_learner, text, kind))

    async def react(self, now: datetime) -> None:
        """Look at every message sent since the last call and plan people's replies."""
        fresh = [m for m in self._run.transport.sent[self._seen :] if not m.edited]
        self._seen = len(self._run.transport.sent)
        prompts = [
            m.outbound.delivery_id
            for m in fresh
            if m.outbound.kind == OutboundKind.QUIZ and m.address in self._learners
        ]
        items = await self._items_of(prompts)
        for message in fresh:
            if message.address in self._learners:
                self.record(
                    message.address,
                    now,
                    _short(message),
                    from_learner=False,
                    kind=message.outbound.kind,
                )
                self._learner_reacts(self._learners[message.address], message, items, now)
            elif message.address == f"console:{COACH_NAME.lower()}":
                self._coach_reacts(message, now)

    async def _items_of(self, delivery_ids: list[int | None]) -> dict[int, Item]:
        """The quiz item behind each prompt delivery."""
        wanted = [d for d in delivery_ids if d is not None]
        if not wanted:
            return {}
        async with self._database.sessions() as session:
            rows = await session.exec(
                select(Delivery.id, Item)
                .join(Item, col(Item.id) == Delivery.item_id)
                .where(col(Delivery.id).in_(wanted))
            )
            return dict(rows.all())

    def _learner_reacts(
        self, learner: DemoLearner, message: ConsoleMessage, items: dict[int, Item], now: datetime
    ) -> None:
        """Plan the learner's reply to one message, as their persona would."""
        persona, rng = learner.persona, self._rngs[learner.address]
        outbound = message.outbound
        if outbound.kind == OutboundKind.QUIZ and outbound.delivery_id in items:
            if rng.random() >= persona.answer_rate:
                return
            slow = rng.random() < persona.slow_rate
            hours = rng.uniform(*(persona.slow_hours if slow else persona.prompt_hours))
            self._answer(learner, items[outbound.delivery_id], outbound, now + _h(hours), rng)
        elif outbound.kind == OutboundKind.REFLECTION and rng.random() < persona.reflect_rate:
            if outbound.text.startswith(FOLLOW_UP_HEADING):
                text = rng.choice(_TRIED)
            else:
                text = rng.choice(_HELP if rng.random() < persona.help_rate else _STEADY)
            at = now + _h(rng.uniform(*persona.prompt_hours) + 0.1)
            event = Text(learner.address, self._event_id(), text, outbound.delivery_id)
            self._agenda.add(at, event, f"writes: “{text}”")
        elif (
            outbound.kind == OutboundKind.NOTICE
            and "(coach):*" in outbound.text
            and persona.answer_rate > 0
        ):
            event = Text(learner.address, self._event_id(), _THANKS, outbound.delivery_id)
            self._agenda.add(now + _h(rng.uniform(0.5, 3)), event, f"writes: “{_THANKS}”")

    def _answer(
        self,
        learner: DemoLearner,
        item: Item,
        outbound: Any,
        at: datetime,
        rng: random.Random,
    ) -> None:
        """Plan the button presses or typed text answering one prompt."""
        right = rng.random() < learner.persona.accuracy
        delivery_id = outbound.delivery_id
        if item.type in ("short", "numeric"):
            text = typed_answer(item, right)
            event: Inbound = Text(learner.address, self._event_id(), text, delivery_id)
            self._agenda.add(at, event, f"types “{text}”")
            return
        labels = {choice.choice_id: choice.label for choice in outbound.choices}
        presses = choice_answer(item, right, rng)
        for press in presses:
            event = Answer(learner.address, self._event_id(), delivery_id, (press,))
            note = None if press == "done" else f"taps “{labels.get(press, press)}”"
            self._agenda.add(at, event, note)

    def _coach_reacts(self, message: ConsoleMessage, now: datetime) -> None:
        """Cora claims each new case in her office hours, writes at once, resolves later."""
        claim = next(
            (c.choice_id for c in message.outbound.choices if c.choice_id.startswith("claim:")),
            None,
        )
        if claim is None:
            return
        case_id, rng, address = int(claim.partition(":")[2]), self._coach_rng, message.address
        claimed = self._office_after(now, rng.uniform(0.25, 3))
        self._agenda.add(claimed, CoachAction(address, self._event_id(), case_id, "claim"))
        note = (
            "Hi, I'm Cora, one of the coaches. I looked at your recent answers: shall we go "
            "through two of them together at 2pm? No pressure, it's a 10-minute chat."
        )
        written = self._office_after(claimed, rng.uniform(0.05, 0.3))
        self._agenda.add(written, CoachAction(address, self._event_id(), case_id, "message", note))
        resolution = "Talked it through; agreed to practise one tip a day. Will check in next week."
        self._agenda.add(
            self._office_after(written, rng.uniform(4, 10)),
            CoachAction(address, self._event_id(), case_id, "resolve", resolution),
        )

    def _office_after(self, at: datetime, hours: float) -> datetime:
        """The moment `hours` of the coach's office time after `at`."""
        return office_after(at, _h(hours), days_off=self._coach_holidays)


def transcript_until() -> date:
    """The first local date whose transcript shows lessons only."""
    return FIRST_MONDAY + timedelta(days=TRANSCRIPT_DAYS)


def office_after(at: datetime, work: timedelta, *, days_off: holidays.HolidayBase) -> datetime:
    """`work` of the coach's office time (COACH_HOURS on working days, COACH_ZONE) after `at`."""
    zone = ZoneInfo(COACH_ZONE)
    moment, left = at, work
    while True:
        day = moment.astimezone(zone).date()
        opens, closes = (
            datetime.combine(day, hour, tzinfo=zone).astimezone(UTC) for hour in COACH_HOURS
        )
        if day.weekday() >= 5 or day in days_off or moment >= closes:
            moment = datetime.combine(day + timedelta(days=1), COACH_HOURS[0], tzinfo=zone)
            moment = moment.astimezone(UTC)
            continue
        moment = max(moment, opens)
        if moment + left <= closes:
            return moment + left
        left -= closes - moment
        moment = closes


def _h(hours: float) -> timedelta:
    """`hours` as a timedelta, to the second."""
    return timedelta(seconds=round(hours * 3600))


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“])")


def _short(message: ConsoleMessage) -> str:
    """A message as the transcript shows it: lessons cut to their title and first sentence."""
    outbound = message.outbound
    text = outbound.text
    if outbound.kind == OutboundKind.LESSON or text.startswith("Welcome"):
        head, _, body = text.partition("\n\n")
        first = _SENTENCE_END.split(body.strip(), maxsplit=1)[0].rstrip(".")
        joiner = " " if head.endswith((".", "!", "?")) else ": "  # a title gets a colon
        text = f"{head}{joiner}{first}…" if first else head
    choices = [f"  [{n}] {c.label}" for n, c in enumerate(outbound.choices, 1)]
    return "\n".join([text, *choices])


def _queued(outcome: object) -> int:
    """How many outbox rows a tick job reports it queued."""
    if isinstance(outcome, PlanResult):
        return outcome.rows
    return outcome if isinstance(outcome, int) else 0


async def _run_jobs(runtime: Runtime, due: dict[str, datetime], now: datetime) -> None:
    """Run the tick jobs whose interval has come round, then send what they queued.

    Each job runs at most once a simulated step, the silence check once a
    simulated day (it counts whole working days). The dispatcher runs when a
    job queued rows; what answers queue is sent once their moment is handled.
    """
    queued = 0
    for job in runtime.ticks():
        if job.job_id == DISPATCH or due.get(job.job_id, now) > now:
            continue
        queued += _queued(await job.tick())
        due[job.job_id] = now + DAILY_JOBS.get(job.job_id, timedelta(seconds=job.seconds))
    if queued:
        await runtime.dispatcher.drain()


class _Outbox:
    """Notes that the service queued replies, so one dispatch sends a moment's worth."""

    def __init__(self) -> None:
        self.waiting = False

    async def wake(self) -> None:
        """Called by the service after it committed new outbox rows."""
        self.waiting = True


async def simulate(
    config: DemoConfig,
    *,
    database: Database,
    settings: Settings,
    on_day: Callable[[int], None] | None = None,
) -> DemoRun:
    """Run the cohort through `config.days` simulated days; the database holds the outcome.

    `on_day(n)` is called as simulated day `n` (1-based) begins, for a progress display.
    """
    learners = cohort(config.learners, config.seed)
    clock = SimulatedClock(START)
    transport = ConsoleTransport()
    settings = settings.model_copy(update={"admins": ADMIN})
    runtime = build_runtime(
        database=database, settings=settings, clock=clock, transports={"console": transport}
    )
    outbox = _Outbox()
    service = InboundRouter(
        sessions=database.sessions,
        clock=clock,
        admin_addresses=runtime.admin_addresses,
        on_outbox=outbox.wake,
    )
    run = DemoRun(config=config, learners=learners, transport=transport)
    async with database.sessions.begin() as session:
        run.pack_title, run.lessons_in_pack = await _set_up(
            session, config=config, learners=learners
        )
    agenda = Agenda()
    people = Cohort(learners=learners, seed=config.seed, agenda=agenda, database=database, run=run)
    due: dict[str, datetime] = {}
    moment = START
    while moment <= config.end:
        day, into_day = divmod(moment - START, timedelta(days=1))
        if on_day is not None and not into_day and day < config.days:
            on_day(day + 1)
        clock.set(max(clock.now(), moment))
        await _run_jobs(runtime, due, clock.now())
        await people.react(clock.now())
        limit = min(moment + config.step, config.end + timedelta(microseconds=1))
        while group := agenda.pop_moment(limit):
            clock.set(max(clock.now(), group[0].at))
            for planned in group:
                if planned.note:
                    people.record(
                        planned.inbound.address, clock.now(), planned.note, from_learner=True
                    )
                await service.handle(planned.inbound)
            if outbox.waiting:
                outbox.waiting = False
                await runtime.dispatcher.drain()
            await people.react(clock.now())
        moment += config.step
    await service.write_counts()
    return run
