"""The demo's result: one JSON-ready summary, and the transcript and report people read."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bot.app import Database
from bot.demo import metrics
from bot.demo.personas import MIX
from bot.demo.simulation import CALENDAR, START, DemoRun, TranscriptLine
from bot.reports import percent

PERSONA_ORDER = tuple(dict.fromkeys(MIX))


async def summarise(database: Database, run: DemoRun) -> dict[str, Any]:
    """Every number the demo reports, read from the database after the run."""
    country, _, subdiv = CALENDAR.partition("-")
    async with database.sessions() as session:
        summary: dict[str, Any] = {
            "learners": len(run.learners),
            "days": run.config.days,
            "seed": run.config.seed,
            "pack": run.pack_title,
            "lessons_in_pack": run.lessons_in_pack,
            "timezones": sorted({learner.timezone for learner in run.learners}),
        }
        summary |= await metrics.integrity(
            session,
            learners=run.learners,
            start=START,
            end=run.config.end,
            calendar=(country, subdiv or None),
            lessons=run.lessons_in_pack,
            transport=run.transport,
        )
        summary |= await metrics.learning(session)
        summary |= await metrics.escalations(session)
        summary["personas"] = await metrics.by_persona(session, run.learners)
    return summary


def featured_learner(run: DemoRun) -> str | None:
    """The diligent or average learner whose first days show the most of the product."""

    def score(lines: list[TranscriptLine]) -> tuple[int, ...]:
        texts = [line.text for line in lines if not line.from_learner]
        return (
            any(text.startswith("🔁") for text in texts),
            any(text.startswith("⏰") for text in texts),
            any(text.startswith("❌") for text in texts),
            any(text.startswith("📝") for text in texts),
        )

    candidates = [
        learner.name
        for learner in run.learners
        if learner.persona.key in ("average", "diligent") and learner.name in run.transcripts
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda name: (score(run.transcripts[name]), -candidates.index(name)))


_EMPHASIS = re.compile(r"(?<!\w)[*_]|[*_](?!\w)")  # markers, not the _ in New_York


def _brief(text: str) -> str:
    """A bot message cut for the transcript: two lines of text, then its choices."""
    lines = [line for line in _EMPHASIS.sub("", text).splitlines() if line]
    words = [line for line in lines if not line.startswith("  [")]
    kept = [line if len(line) <= 100 else line[:97].rstrip() + "…" for line in words[:2]]
    return "\n".join(kept + [line for line in lines if line.startswith("  [")])


def transcript(run: DemoRun, name: str) -> Group:
    """One learner's first days as a chat log in their local time."""
    learner = next(learner for learner in run.learners if learner.name == name)
    zone = ZoneInfo(learner.timezone)
    log = Table.grid(padding=(0, 1))
    log.add_column(no_wrap=True, style="dim")
    log.add_column(no_wrap=True)
    log.add_column()
    for line in run.transcripts[name]:
        stamp = f"{line.at.astimezone(zone):%a %H:%M}"
        if line.from_learner:
            log.add_row(stamp, Text(name, style="bold cyan"), Text(line.text, style="cyan"))
        else:
            log.add_row(stamp, "bot", Text(_brief(line.text)))
    title = f"{name} ({learner.persona.key}, {learner.timezone}, lessons at {learner.send_time})"
    return Group(Text(f"Transcript: {title}, first days", style="bold"), log)


def cohort_table(summary: dict[str, Any]) -> Table:
    """Per persona: learners, answers, accuracy, reviews, reflections, cases."""
    table = Table(
        "persona", "learners", "answers", "accuracy", "reviews", "reflections", "cases",
        title="Cohort",
    )  # fmt: skip
    for key in PERSONA_ORDER:
        row = summary["personas"].get(key)
        if row is None:
            continue
        table.add_row(
            key,
            str(row["learners"]),
            str(row["answers"]),
            percent(row["accuracy"]),
            str(row["reviews"]),
            str(row["reflections"]),
            str(row["cases"]),
        )
    return table


def _reasons(reasons: dict[str, int]) -> str:
    """`score 4, help 1` from the reason counts."""
    return ", ".join(f"{name} {count}" for name, count in reasons.items()) or "none"


def findings(summary: dict[str, Any]) -> list[str]:
    """The two or three sentences that say what the run shows, from its numbers."""
    lines = []
    if summary["reviews_sent"]:
        lines.append(
            f"Spaced review brought back {summary['reviews_sent']} questions learners had seen "
            "before, the missed ones first, so weak spots come round again."
        )
    if summary["escalations_opened"]:
        lines.append(
            f"{summary['escalations_opened']} cases reached the coach with the evidence attached "
            f"({_reasons(summary['escalation_reasons'])}); the coach claimed them in a median "
            f"{summary['median_hours_to_claim']} h and resolved {summary['escalations_resolved']}."
        )
    if summary["missed_deliveries"] == 0 and summary["duplicate_deliveries"] == 0:
        lines.append(
            f"Every learner got exactly one lesson on each of their working days across "
            f"{len(summary['timezones'])} timezones, daylight-saving changes and the {CALENDAR} "
            f"holidays: {summary['deliveries_sent']} sent of {summary['deliveries_expected']} "
            "expected, none missed, none twice."
        )
    else:
        lines.append(
            f"Delivery problems: {summary['missed_deliveries']} missed and "
            f"{summary['duplicate_deliveries']} duplicate lessons."
        )
    return lines


def report(summary: dict[str, Any]) -> Group:
    """The human report: cohort, escalations, delivery integrity, what it shows."""
    accuracy = percent(summary["accuracy"])
    escalation = Text(
        f"Escalations: {summary['escalations_opened']} opened, "
        f"{summary['escalations_claimed']} claimed, {summary['escalations_resolved']} resolved; "
        f"reasons: {_reasons(summary['escalation_reasons'])}; median time to claim "
        f"{summary['median_hours_to_claim']} h"
    )
    integrity = Text(
        f"Delivery integrity: {summary['deliveries_sent']} lessons sent / "
        f"{summary['deliveries_expected']} expected, {summary['missed_deliveries']} missed, "
        f"{summary['duplicate_deliveries']} duplicates ({summary['messages_sent']} messages "
        f"in all, {summary['nudges_sent']} nudges)"
    )
    headline = Text(
        f"{summary['learners']} learners in {', '.join(summary['timezones'])}, "
        f"{summary['days']} simulated days of “{summary['pack']}”: {summary['answers']} answers, "
        f"{accuracy} right, {summary['reflections']} reflections",
        style="bold",
    )
    shows = Panel(Text("\n".join(findings(summary))), title="What this shows")
    return Group(headline, cohort_table(summary), escalation, integrity, shows)


def print_human(console: Console, run: DemoRun, summary: dict[str, Any]) -> None:
    """The transcript of one learner's first days, then the report."""
    name = featured_learner(run)
    if name is not None:
        console.print(transcript(run, name))
        console.print()
    console.print(report(summary))
