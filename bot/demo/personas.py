"""Who is in the demo cohort: learner personas, their timezones, and the coach.

Every random choice comes from a `random.Random` seeded from the demo seed and
the learner's name, so one learner's behaviour does not depend on the order in
which the simulation happens to look at the others.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import time

ZONES = ("Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Sydney")
# Local send times that fall on whole UTC hours (India is UTC+5:30), the simulation's step.
SEND_TIMES = {"Asia/Kolkata": ("08:30", "09:30", "09:30")}
DEFAULT_SEND_TIMES = ("08:00", "09:00", "09:00", "10:00")
# One cycle of the cohort: most people are average, a few diligent, some struggle, one is silent.
MIX = (
    "diligent",
    "average",
    "struggling",
    "average",
    "diligent",
    "average",
    "struggling",
    "silent",
)
NAMES = (
    "Amira", "Ben", "Chloe", "Dev", "Elena", "Finn", "Grace", "Hiro", "Isla", "Jonas",
    "Kemi", "Liam", "Maya", "Nikhil", "Olivia", "Priya", "Quinn", "Ravi", "Sofia", "Tom",
    "Uma", "Victor", "Wen", "Yara", "Zane", "Aisha", "Bruno", "Carmen", "Dmitri", "Esme",
)  # fmt: skip
COACH_NAME = "Cora"
COACH_ZONE = "Europe/London"
COACH_HOURS = (time(9), time(17))  # the coach's office hours in COACH_ZONE, on working days


@dataclass(frozen=True, slots=True)
class Persona:
    """How a kind of learner behaves: how often and how well they answer, and how fast."""

    key: str
    accuracy: float  # chance an answer is right
    answer_rate: float  # chance a prompt gets answered at all
    prompt_hours: tuple[float, float]  # usual delay before answering
    slow_rate: float  # chance of answering hours later instead (after a nudge, or next day)
    slow_hours: tuple[float, float]
    reflect_rate: float  # chance a reflection prompt gets a reply
    help_rate: float  # share of their reflections that ask for help


PERSONAS: dict[str, Persona] = {
    persona.key: persona
    for persona in (
        Persona("diligent", 0.92, 1.0, (0.05, 0.6), 0.0, (0, 0), 0.7, 0.0),
        Persona("average", 0.8, 0.92, (0.2, 2.0), 0.25, (3.5, 8.0), 0.35, 0.0),
        Persona("struggling", 0.4, 0.85, (0.5, 2.5), 0.3, (3.5, 20.0), 0.5, 0.35),
        Persona("silent", 0.0, 0.0, (0, 0), 0.0, (0, 0), 0.0, 0.0),
    )
}


@dataclass(frozen=True, slots=True)
class DemoLearner:
    """One simulated learner."""

    name: str
    persona: Persona
    timezone: str
    send_time: str

    @property
    def address(self) -> str:
        """The learner's console address."""
        return f"console:{self.name.lower()}"


def learner_rng(seed: int, name: str) -> random.Random:
    """The learner's own random stream for this seed."""
    return random.Random(f"{seed}:{name}")


def cohort(size: int, seed: int) -> list[DemoLearner]:
    """`size` learners: personas in the demo's mix, spread over four timezones."""
    rng = random.Random(seed)
    kinds = [MIX[index % len(MIX)] for index in range(size)]
    rng.shuffle(kinds)
    names = [
        NAMES[index % len(NAMES)] + (str(index // len(NAMES) + 1) if index >= len(NAMES) else "")
        for index in range(size)
    ]
    return [
        DemoLearner(
            name=name,
            persona=PERSONAS[kind],
            timezone=zone,
            send_time=rng.choice(SEND_TIMES.get(zone, DEFAULT_SEND_TIMES)),
        )
        for index, (name, kind) in enumerate(zip(names, kinds, strict=True))
        for zone in (ZONES[index % len(ZONES)],)
    ]
