"""Struggle detection and spaced review, measured on a simulated cohort through the real engine.

Run with `python benchmarks/struggle.py` (add `--help` for the knobs). Each
learner has a known ability; items a known difficulty; memory follows one of
two forgetting models. Nothing is re-implemented: the clock is a
`SimulatedClock`, the planner, dispatcher (with a recording console
transport), nudges, SLA, silence and digest ticks run as `run` schedules them,
every answer and every coach action goes through `InboundRouter.handle`, on a
fresh SQLite file. The model only decides whether each answer is right.

Printed per model, against baselines computed in the same run: precision and
recall of the cases opened against the truly weakest 15 % at working days 5
and 15 (chance precision is 15 %), the share of the strongest half ever
escalated, new cases per coach per working day, and the model's recall of
taught items at days 60 and 90 against a no-review floor (the same learners,
had they never been shown a review).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import heapq
import itertools
import math
import pstats
import random
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import event
from sqlmodel import col, select

from bot.app import Database, Runtime, build_runtime, open_database
from bot.clock import SimulatedClock
from bot.coaching.grading import guess_floor
from bot.config import Settings
from bot.demo.simulation import choice_answer, console_team, load_starter, typed_answer
from bot.messages import Answer, CoachAction, Inbound, OutboundKind, Text
from bot.transports.console import ConsoleTransport
from content.store import load_pack
from storage.models import Delivery, Escalation, Item, Person, Role

START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # a Monday; the team keeps no holidays
SEND_TIME = "09:00"
WEAKEST = 0.15
CHECK_DAYS = (5, 15)  # working days at which precision and recall are read
RECALL_DAYS = (60, 90)  # calendar days at which the model's recall is read
TICK_HOURS = (9, 12, 15, 17)  # moments each day when the scheduler's jobs run
TARGETS = {5: (0.60, 0.50), 15: (0.70, 0.80)}  # working day: (precision, recall)
STRONG_TARGET = 0.05
LOAD_TARGET = 1.0


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def exponential(days: float, stability: float) -> float:
    """Ebbinghaus: recall falls as exp(−t/S)."""
    return math.exp(-days / stability)


def power_law(days: float, stability: float) -> float:
    """A heavy-tailed power law: fast early loss, slow late loss."""
    return (1 + 0.25 * days / stability) ** -2.0


MODELS: dict[str, Callable[[float, float], float]] = {
    "exponential": exponential,
    "power": power_law,
}


@dataclass
class Memory:
    """What one learner holds of one item: understood at all, how stably, since when."""

    understood: bool
    stability: float
    studied: datetime


@dataclass
class SimLearner:
    """A learner of known ability, with what they remember of each item."""

    name: str
    ability: float
    rng: random.Random
    memory: dict[int, Memory] = field(default_factory=dict)
    floor: dict[int, Memory] = field(default_factory=dict)  # memory had reviews never come

    @property
    def address(self) -> str:
        """The learner's console address."""
        return f"console:{self.name}"


class Model:
    """Decides whether an answer is right, and updates the learner's memory of the item."""

    def __init__(self, forget: Callable[[float, float], float], seed: int) -> None:
        self.forget = forget
        self._seed = seed
        self._difficulty: dict[str, float] = {}

    def difficulty(self, item: Item) -> float:
        """The item's known difficulty, the same for every learner and run of a seed."""
        if item.key not in self._difficulty:
            self._difficulty[item.key] = random.Random(f"{self._seed}:{item.key}").gauss(0, 0.7)
        return self._difficulty[item.key]

    def comprehension(self, learner: SimLearner, item: Item) -> float:
        """The chance the learner understands the item from one explanation."""
        return _sigmoid(1.6 + 1.4 * learner.ability - self.difficulty(item))

    def recall(self, memory: Memory, now: datetime) -> float:
        """The chance the item is recalled now (no guessing)."""
        if not memory.understood:
            return 0.0
        days = max((now - memory.studied).total_seconds() / 86400, 0.0)
        return self.forget(days, memory.stability)

    def answer(self, learner: SimLearner, item: Item, now: datetime) -> bool:
        """Draw the answer to `item` now and learn from its feedback."""
        rng = learner.rng
        memory = learner.memory.get(item.id)
        first = memory is None
        if memory is None:
            understood = rng.random() < self.comprehension(learner, item)
            memory = Memory(understood, 1.2 * math.exp(0.6 * learner.ability), now)
            learner.memory[item.id] = memory
        floor = guess_floor(item)
        recalled = self.recall(memory, now)
        correct = rng.random() < floor + (1 - floor) * recalled
        if memory.understood and correct:
            memory.stability *= 1.4 + 2.5 * (1 - recalled)
        elif memory.understood:
            memory.stability = max(0.4, memory.stability * 0.5)
        else:  # the feedback explains it again
            memory.understood = rng.random() < self.comprehension(learner, item)
        memory.studied = now
        if first:
            learner.floor[item.id] = Memory(memory.understood, memory.stability, now)
        return correct


def cohort_of(size: int, seed: int) -> list[SimLearner]:
    """`size` learners with abilities drawn from N(0, 1)."""
    rng = random.Random(seed)
    return [
        SimLearner(f"l{n:03d}", rng.gauss(0, 1), random.Random(f"{seed}:l{n:03d}"))
        for n in range(size)
    ]


@dataclass(order=True)
class _Event:
    at: datetime
    seq: int
    inbound: Inbound = field(compare=False)


@dataclass
class Figures:
    """What one run measured."""

    flagged_at: dict[int, set[str]] = field(default_factory=dict)
    recall: dict[int, tuple[float, float]] = field(default_factory=dict)  # day: (model, floor)
    cases: Counter[str] = field(default_factory=Counter)
    working_days: int = 0
    coaches: int = 0
    ever: set[str] = field(default_factory=set)
    seconds: float = 0.0
    statements: int = 0
    by_phase: Counter[str] = field(default_factory=Counter)  # statements per phase of the day
    seconds_by_phase: Counter[str] = field(default_factory=Counter)
    answers: int = 0
    reviews: int = 0


async def _set_up(
    database: Database, learners: list[SimLearner], team_size: int, policy: tuple[str, ...]
) -> int:
    """Load the starter pack, make teams of `team_size` with a coach each; returns the coaches."""
    pack = load_starter(None)
    async with database.sessions.begin() as session:
        await load_pack(session, pack, now=START)
        teams = [learners[n : n + team_size] for n in range(0, len(learners), team_size)]
        for number, members in enumerate(teams):
            coach = Person(
                name=f"coach{number}",
                role=Role.COACH,
                platform="console",
                platform_id=f"coach{number}",
                timezone="UTC",
                send_time=SEND_TIME,
            )
            await console_team(
                session,
                name=f"team{number}",
                pack_id=pack.meta.id,
                coach=coach,
                learners=[(each.name, each.name, "UTC", SEND_TIME) for each in members],
                now=START,
                policy=policy,
            )
        return len(teams)


class Phases:
    """Which part of the engine runs now, to split statements and seconds by it."""

    def __init__(self, figures: Figures) -> None:
        self.figures = figures
        self.now = "other"

    def count(self, *_: object) -> None:
        """A `before_cursor_execute` listener: one statement of the current phase."""
        self.figures.statements += 1
        self.figures.by_phase[self.now] += 1

    async def run(self, phase: str, work: Awaitable[object]) -> object:
        """Await `work` as `phase`."""
        before, self.now = self.now, phase
        started = time.perf_counter()
        try:
            return await work
        finally:
            self.figures.seconds_by_phase[phase] += time.perf_counter() - started
            self.now = before


class Simulation:
    """One cohort under one forgetting model, living through the weeks on the real engine."""

    def __init__(
        self,
        *,
        runtime: Runtime,
        transport: ConsoleTransport,
        learners: list[SimLearner],
        model: Model,
        phases: Phases,
    ) -> None:
        self.runtime = runtime
        self.phases = phases
        self.transport = transport
        self.learners = {learner.address: learner for learner in learners}
        self.model = model
        self.agenda: list[_Event] = []
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self.answers = 0
        self.reviews = 0

    def _add(self, at: datetime, inbound: Inbound) -> None:
        heapq.heappush(self.agenda, _Event(at, next(self._seq), inbound))

    def _event_id(self) -> str:
        return f"bench-{next(self._ids)}"

    async def _items(self, delivery_ids: list[int]) -> dict[int, tuple[Item, str]]:
        if not delivery_ids:
            return {}
        async with self.runtime.database.sessions() as session:
            rows = await session.exec(
                select(Delivery.id, Item, Delivery.kind)
                .join(Item, col(Item.id) == Delivery.item_id)
                .where(col(Delivery.id).in_(delivery_ids))
            )
            return {delivery_id: (item, kind) for delivery_id, item, kind in rows.all()}

    async def react(self, now: datetime) -> None:
        """Plan the replies to what was sent since the last look: answers and coach actions."""
        fresh = [message for message in self.transport.sent if not message.edited]
        self.transport.sent.clear()
        prompts = [
            m.outbound.delivery_id
            for m in fresh
            if m.outbound.kind == OutboundKind.QUIZ
            and m.address in self.learners
            and m.outbound.delivery_id is not None
        ]
        items = await self._items(prompts)
        for message in fresh:
            learner = self.learners.get(message.address)
            delivery_id = message.outbound.delivery_id
            if learner is not None and delivery_id in items:
                self._answer(learner, delivery_id, *items[delivery_id], now)
            elif message.address.startswith("console:coach"):
                self._coach(message.address, message.outbound.choices, now)

    def _answer(
        self, learner: SimLearner, delivery_id: int, item: Item, kind: str, now: datetime
    ) -> None:
        rng = learner.rng
        if rng.random() < 0.03:  # now and then a prompt goes unanswered
            return
        at = now + timedelta(minutes=rng.uniform(5, 240))
        right = self.model.answer(learner, item, at)
        self.answers += 1
        self.reviews += kind == "review"
        if item.type in ("short", "numeric"):
            text = typed_answer(item, right)
            self._add(at, Text(learner.address, self._event_id(), text, delivery_id))
        else:
            picks = tuple(choice_answer(item, right, rng))
            self._add(at, Answer(learner.address, self._event_id(), delivery_id, picks))

    def _coach(self, address: str, choices: tuple, now: datetime) -> None:
        """The coach claims a new case the next working morning, writes, resolves two days later."""
        claim = next((c.choice_id for c in choices if c.choice_id.startswith("claim:")), None)
        if claim is None:
            return
        case_id = int(claim.partition(":")[2])
        claimed = _working_morning(now + timedelta(days=1), hour=10)
        self._add(claimed, CoachAction(address, self._event_id(), case_id, "claim"))
        note = "Let's look at two of your answers together."
        self._add(
            claimed + timedelta(minutes=5),
            CoachAction(address, self._event_id(), case_id, "message", note),
        )
        resolved = _working_morning(claimed + timedelta(days=2), hour=11)
        self._add(resolved, CoachAction(address, self._event_id(), case_id, "resolve", "talked"))

    async def run_until(self, until: datetime) -> None:
        """Handle every planned event before `until`, in time order, sending what they queue."""
        clock = self.runtime.clock
        assert isinstance(clock, SimulatedClock)
        while self.agenda and self.agenda[0].at < until:
            planned = heapq.heappop(self.agenda)
            clock.set(max(clock.now(), planned.at))
            await self.phases.run("answers", self.runtime.service.handle(planned.inbound))
            if not self.agenda or self.agenda[0].at >= planned.at + timedelta(minutes=30):
                await self.phases.run("send", self.runtime.dispatcher.drain())
                await self.phases.run("simulation", self.react(clock.now()))
        clock.set(max(clock.now(), until))


def _working_morning(moment: datetime, *, hour: int) -> datetime:
    """`hour`:00 UTC on the first Monday-to-Friday date on or after `moment`'s date."""
    day = moment.date()
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=hour)


async def _flagged(database: Database) -> set[str]:
    """Names of learners who ever had a case opened."""
    async with database.sessions() as session:
        rows = await session.exec(
            select(Person.name).join(Escalation, col(Escalation.person_id) == Person.id).distinct()
        )
        return set(rows.all())


async def _cases(database: Database) -> Counter[str]:
    """Cases opened, by the signal that opened them."""
    async with database.sessions() as session:
        cases = (await session.exec(select(Escalation))).all()
        return Counter(case.evidence.get("signal", "other") for case in cases)


def _model_recall(sim: Simulation, now: datetime) -> tuple[float, float]:
    """Mean recall of taught items (no guessing), with reviews and at the no-review floor."""
    model, taught, floor = sim.model, [], []
    for learner in sim.learners.values():
        taught += [model.recall(memory, now) for memory in learner.memory.values()]
        floor += [model.recall(memory, now) for memory in learner.floor.values()]
    return sum(taught) / max(len(taught), 1), sum(floor) / max(len(floor), 1)


async def simulate(
    *,
    model_name: str,
    learners: int,
    team_size: int,
    weeks: int,
    seed: int,
    policy: tuple[str, ...],
) -> tuple[Figures, list[SimLearner]]:
    """Run one cohort for `weeks` under one model; the figures and the learners."""
    figures = Figures()
    cohort = cohort_of(learners, seed)
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(database_url=f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}")
        async with open_database(settings, upgrade=True) as database:
            figures.coaches = await _set_up(database, cohort, team_size, policy)

            phases = Phases(figures)
            event.listen(database.engine.sync_engine, "before_cursor_execute", phases.count)
            clock = SimulatedClock(START)
            transport = ConsoleTransport()
            runtime = build_runtime(
                database=database, settings=settings, clock=clock, transports={"console": transport}
            )
            sim = Simulation(
                runtime=runtime,
                transport=transport,
                learners=cohort,
                model=Model(MODELS[model_name], seed),
                phases=phases,
            )
            ticks = [job for job in runtime.ticks() if job.job_id != "dispatch"]
            started = time.perf_counter()
            for day_number in range(weeks * 7):
                day: date = (START + timedelta(days=day_number)).date()
                midnight = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
                for hour in TICK_HOURS:
                    moment = midnight + timedelta(hours=hour)
                    await sim.run_until(moment)
                    for job in ticks:
                        await phases.run(job.job_id, job.tick())
                    await phases.run("send", runtime.dispatcher.drain())
                    await phases.run("simulation", sim.react(clock.now()))
                await sim.run_until(midnight + timedelta(days=1))
                if day.weekday() < 5:
                    figures.working_days += 1
                    if figures.working_days in CHECK_DAYS:
                        figures.flagged_at[figures.working_days] = await _flagged(database)
                for mark in RECALL_DAYS:
                    if day_number + 1 == mark:
                        figures.recall[mark] = _model_recall(sim, midnight + timedelta(days=1))
            figures.seconds = time.perf_counter() - started
            figures.ever = await _flagged(database)
            figures.cases = await _cases(database)
            figures.answers, figures.reviews = sim.answers, sim.reviews
    return figures, cohort


def _verdict(value: float, target: float, *, at_most: bool = False) -> str:
    met = value <= target if at_most else value >= target
    return "met" if met else f"MISSED by {abs(value - target) * 100:.0f} pts"


def report(name: str, figures: Figures, cohort: list[SimLearner], learners_per_team: int) -> None:
    """Print one model's figures against their targets and baselines."""
    ranked = sorted(cohort, key=lambda learner: learner.ability)
    weakest = {learner.name for learner in ranked[: round(WEAKEST * len(ranked))]}
    strongest = {learner.name for learner in ranked[len(ranked) // 2 :]}
    per_day = len(cohort) * figures.working_days
    print(
        f"[{name}] {len(cohort)} learners in teams of {learners_per_team}, "
        f"{figures.working_days} working days: {figures.answers} answers "
        f"({figures.reviews} reviews), wall {figures.seconds:.0f}s "
        f"({1000 * figures.seconds / per_day:.1f} ms and "
        f"{figures.statements / per_day:.0f} SQL statements per learner per working day)"
    )
    split = ", ".join(
        f"{phase} {n / per_day:.1f} / {1000 * figures.seconds_by_phase[phase] / per_day:.1f} ms"
        for phase, n in figures.by_phase.most_common()
    )
    print(f"  per learner per working day, statements / ms by phase: {split}")
    for day in CHECK_DAYS:
        if day not in figures.flagged_at:
            print(f"  working day {day:2}: not reached")
            continue
        flagged = figures.flagged_at[day]
        hits = len(flagged & weakest)
        precision = hits / len(flagged) if flagged else 0.0
        recall = hits / len(weakest)
        want_p, want_r = TARGETS[day]
        print(
            f"  working day {day:2}: {len(flagged):3} learners with a case; "
            f"precision {precision:4.0%} vs weakest 15% (chance {WEAKEST:.0%}; target "
            f"{want_p:.0%}: {_verdict(precision, want_p)}), recall {recall:4.0%} "
            f"(target {want_r:.0%}: {_verdict(recall, want_r)})"
        )
    strong = len(figures.ever & strongest) / len(strongest)
    print(
        f"  strongest half ever escalated: {strong:.0%} "
        f"(target ≤{STRONG_TARGET:.0%}: {_verdict(strong, STRONG_TARGET, at_most=True)}); "
        f"anyone ever: {len(figures.ever) / len(cohort):.0%}"
    )
    load = figures.cases.total() / (figures.coaches * figures.working_days)
    signals = ", ".join(f"{signal} {n}" for signal, n in figures.cases.most_common())
    print(
        f"  new cases per coach per working day: {load:.2f} "
        f"(target ≤{LOAD_TARGET:.0f}: {_verdict(load, LOAD_TARGET, at_most=True)}); "
        f"{figures.cases.total()} cases in all ({signals})"
    )
    for day, (recall, floor) in sorted(figures.recall.items()):
        print(
            f"  recall of taught items at day {day}: {recall:.1%} "
            f"(no-review floor {floor:.1%}, {100 * (recall - floor):+.1f} pts)"
        )


def _run(name: str, args: argparse.Namespace) -> tuple[Figures, list[SimLearner]]:
    """One model's run in this process."""
    return asyncio.run(
        simulate(
            model_name=name,
            learners=args.learners,
            team_size=args.team_size,
            weeks=args.weeks,
            seed=args.seed,
            policy=tuple(args.set),
        )
    )


def main() -> None:
    """Run the benchmark for each forgetting model (in parallel, one process each) and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--team-size", type=int, default=25)
    parser.add_argument("--weeks", type=int, default=13)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", choices=[*MODELS, "both"], default="both")
    parser.add_argument("--set", action="append", default=[], help="team policy KEY=VALUE")
    parser.add_argument("--jobs", type=int, default=2, help="models run at once (processes)")
    parser.add_argument("--profile", type=Path, help="run in this process; write cProfile stats")
    args = parser.parse_args()
    names = list(MODELS) if args.model == "both" else [args.model]
    started = time.perf_counter()
    if args.profile is not None:
        profiler = cProfile.Profile()
        results = [profiler.runcall(_run, name, args) for name in names]
        profiler.dump_stats(args.profile)
    else:
        with ProcessPoolExecutor(max_workers=max(1, min(args.jobs, len(names)))) as pool:
            results = list(pool.map(_run, names, [args] * len(names)))
    for name, (figures, cohort) in zip(names, results, strict=True):
        report(name, figures, cohort, args.team_size)
    print(f"total wall {time.perf_counter() - started:.0f}s (target under 300s on 2 cores)")
    if args.profile is not None:
        pstats.Stats(str(args.profile)).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
