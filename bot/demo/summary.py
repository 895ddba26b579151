"""The demo's result: one JSON-ready summary, and the transcript and report people read."""

from __future__ import annotations

import re
import textwrap
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bot.admin.read_models import percent
from bot.app import Database
from bot.demo import metrics
from bot.demo.personas import COACH_HOURS, COACH_ZONE, MIX, DemoLearner
from bot.demo.simulation import CALENDAR, START, DemoRun, TranscriptLine, transcript_until
from bot.messages import OutboundKind

PERSONA_ORDER = tuple(dict.fromkeys(MIX))
LINE_CHARS = 140  # a transcript line longer than this is shortened at a word boundary


def _calendar() -> tuple[str, str | None]:
    """The team calendar as (country, subdivision)."""
    country, _, subdiv = CALENDAR.partition("-")
    return country, subdiv or None


async def summarise(database: Database, run: DemoRun) -> dict[str, Any]:
    """Every number the demo reports, read from the database after the run."""
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
            calendar=_calendar(),
            lessons=run.lessons_in_pack,
            transport=run.transport,
        )
        summary["clock_changes"] = metrics.clock_changes(
            summary["timezones"], start=START, end=run.config.end
        )
        summary["holidays"] = metrics.holidays_in_window(
            run.learners, start=START, end=run.config.end, calendar=_calendar()
        )
        summary |= await metrics.learning(session)
        summary |= await metrics.escalations(session)
        summary["personas"] = await metrics.by_persona(session, run.learners)
    return summary


def featured_learner(run: DemoRun) -> str | None:
    """The diligent or average learner whose days show the most of the product."""
    changed = {
        change["zone"]
        for change in metrics.clock_changes(
            {learner.timezone for learner in run.learners}, start=START, end=run.config.end
        )
    }

    def score(learner: DemoLearner) -> tuple[int, ...]:
        texts = [line.text for line in run.transcripts[learner.name] if not line.from_learner]
        return (
            learner.timezone in changed,
            any(text.startswith("🔁") for text in texts),
            any(text.startswith("⏰") for text in texts),
            any(text.startswith("❌") for text in texts),
            any(text.startswith("📝") for text in texts),
        )

    candidates = [
        learner
        for learner in run.learners
        if learner.persona.key in ("average", "diligent") and learner.name in run.transcripts
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda learner: (score(learner), -candidates.index(learner))).name


_EMPHASIS = re.compile(r"(?<!\w)[*_]|[*_](?!\w)")  # markers, not the _ in New_York


def _brief(text: str) -> str:
    """A bot message for the transcript: two lines of text, each cut at a word, then choices."""
    lines = [line for line in _EMPHASIS.sub("", text).splitlines() if line]
    words = [line for line in lines if not line.startswith("  [")]
    kept = [textwrap.shorten(line, width=LINE_CHARS, placeholder="…") for line in words[:2]]
    return "\n".join(kept + [line for line in lines if line.startswith("  [")])


def _day(day: date) -> str:
    """`Mon 30 Mar`."""
    return f"{day:%a} {day.day} {day:%b}"


def _city(zone: str) -> str:
    """`New York` for America/New_York."""
    return zone.rpartition("/")[2].replace("_", " ")


def _calendar_notes(
    learner: DemoLearner, run: DemoRun, lessons: dict[date, list[TranscriptLine]]
) -> dict[date, str]:
    """What the calendar did on the learner's days: clock changes and public holidays."""
    zone = ZoneInfo(learner.timezone)
    notes: dict[date, str] = {}
    window = {"start": START, "end": run.config.end}
    for change in metrics.clock_changes([learner.timezone], **window):
        changed = date.fromisoformat(change["date"])
        said = f"clocks went {change['clocks']} in {_city(learner.timezone)}"
        after = min((day for day in lessons if day >= changed), default=None)
        if after is None:
            notes[changed] = said
            continue
        sent = f"{lessons[after][0].at.astimezone(zone):%H:%M}"
        when = "still at" if sent == learner.send_time else "at"
        on = "" if after == changed else f" on {_day(changed)}"
        notes[after] = f"{said}{on}; lesson {when} {sent} local"
    for holiday in metrics.holidays_in_window([learner], calendar=_calendar(), **window):
        day = date.fromisoformat(holiday["date"])
        outcome = "" if day in lessons else ": no lesson"
        said = f"{holiday['name']} ({CALENDAR} holiday){outcome}"
        notes[day] = f"{notes[day]}; {said}" if day in notes else said
    return notes


def transcript(run: DemoRun, name: str) -> Group:
    """One learner's days as a chat log in their local time: the first in full, then lessons."""
    learner = next(learner for learner in run.learners if learner.name == name)
    zone = ZoneInfo(learner.timezone)
    lines = run.transcripts[name]
    lessons: dict[date, list[TranscriptLine]] = {}
    for line in lines:
        if line.kind == OutboundKind.LESSON:
            lessons.setdefault(line.at.astimezone(zone).date(), []).append(line)
    notes = _calendar_notes(learner, run, lessons)
    until = transcript_until()
    log = Table.grid(padding=(0, 1))
    log.add_column(no_wrap=True, style="dim")
    log.add_column(no_wrap=True)
    log.add_column()
    first = START.astimezone(zone).date()
    last = run.config.end.astimezone(zone).date()
    for day in (first + timedelta(days=n) for n in range((last - first).days + 1)):
        shown = [line for line in lines if line.at.astimezone(zone).date() == day]
        if day >= until:
            shown = lessons.get(day, [])
        if day in notes:
            log.add_row(_day(day), "", Text(notes[day], style="yellow"))
        elif not shown:
            log.add_row(_day(day), "", Text("weekend" if day.weekday() >= 5 else "no lesson"))
        for line in shown:
            stamp = f"{_day(day)} {line.at.astimezone(zone):%H:%M}"
            if line.from_learner:
                log.add_row(stamp, Text(name, style="bold cyan"), Text(line.text, style="cyan"))
            else:
                log.add_row(stamp, "bot", Text(_brief(line.text)))
    title = f"{name} ({learner.persona.key}, {learner.timezone}, lessons at {learner.send_time})"
    later = f"; from {_day(until)} lessons only" if last >= until else ""
    heading = f"Transcript: {title}{later}"
    return Group(Text(heading, style="bold"), log)


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


def _dates(day: str) -> str:
    """`3 Apr` from an ISO date."""
    parsed = date.fromisoformat(day)
    return f"{parsed.day} {parsed:%b}"


def _listing(parts: list[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return " and ".join(filter(None, [", ".join(parts[:-1]), parts[-1]])) if parts else ""


def _calendar_clause(summary: dict[str, Any]) -> str:
    """The clock changes and holidays that fell inside the run, in words (empty when none)."""
    clauses = []
    if changes := summary["clock_changes"]:
        places = [f"{_city(c['zone'])} ({c['clocks']}, {_dates(c['date'])})" for c in changes]
        clocks = "the clock change" if len(changes) == 1 else "the clock changes"
        clauses.append(f"through {clocks} in {_listing(places)}")
    if days := summary["holidays"]:
        named = [f"{h['name']} ({_dates(h['date'])})" for h in days]
        clauses.append(f"with no lesson on the {CALENDAR} holidays {_listing(named)}")
    return ", ".join(clauses)


def _delivery_finding(summary: dict[str, Any]) -> str:
    """What the delivery numbers show."""
    if not summary["deliveries_expected"]:
        return "No learner had a lesson day inside the simulated window."
    problems = (
        summary["missed_deliveries"]
        + summary["duplicate_deliveries"]
        + summary["unexpected_deliveries"]
    )
    if problems:
        return (
            f"Delivery problems: {summary['missed_deliveries']} missed, "
            f"{summary['duplicate_deliveries']} duplicate and "
            f"{summary['unexpected_deliveries']} unexpected lessons."
        )
    zones = len(summary["timezones"])
    finished = summary["learners_finished_pack"]
    pack = (
        f" ({finished} of them until the pack's {summary['lessons_in_pack']} lessons ran out)"
        if finished
        else ""
    )
    calendar = _calendar_clause(summary)
    return (
        f"Every learner got exactly one lesson on each of their working days{pack}, across "
        f"{zones} timezone{'s' if zones > 1 else ''}{', ' + calendar if calendar else ''}: "
        f"{summary['deliveries_sent']} sent of {summary['deliveries_expected']} expected, "
        "none missed, none twice."
    )


def _escalation_finding(summary: dict[str, Any]) -> str:
    """What the coaching cases show."""
    opened, claimed = summary["escalations_opened"], summary["escalations_claimed"]
    hours = f"{COACH_HOURS[0]:%H:%M}–{COACH_HOURS[1]:%H:%M}"
    coach = f"the coach (office hours {hours} Monday to Friday, {_city(COACH_ZONE)} time)"
    if not claimed:
        took = f"{coach} had not claimed any yet"
    else:
        which = "all of them" if claimed == opened else f"{claimed} of them"
        took = (
            f"{coach} claimed {which} in a median {summary['median_hours_to_claim']} h "
            f"(longest {summary['longest_hours_to_claim']} h) and resolved "
            f"{summary['escalations_resolved']}"
        )
    cases = "1 case" if opened == 1 else f"{opened} cases"
    return (
        f"{cases} reached the coach with the evidence attached "
        f"({_reasons(summary['escalation_reasons'])}); {took}."
    )


def findings(summary: dict[str, Any]) -> list[str]:
    """The sentences that say what the run shows, each from its numbers."""
    lines = []
    if reviews := summary["reviews_sent"]:
        missed = summary["reviews_of_missed"]
        weak = (
            f"; {missed} of them had been answered wrongly the time before, "
            "so weak spots come round again"
            if missed
            else ""
        )
        lines.append(
            f"Spaced review brought back {reviews} questions learners had seen before{weak}."
        )
    if summary["escalations_opened"]:
        lines.append(_escalation_finding(summary))
    lines.append(_delivery_finding(summary))
    return lines


def report(summary: dict[str, Any]) -> Group:
    """The human report: cohort, escalations, delivery integrity, what it shows."""
    accuracy = percent(summary["accuracy"])
    claim = (
        f"median time to claim {summary['median_hours_to_claim']} h"
        if summary["escalations_claimed"]
        else "none claimed"
    )
    escalation = Text(
        f"Escalations: {summary['escalations_opened']} opened, "
        f"{summary['escalations_claimed']} claimed, {summary['escalations_resolved']} resolved; "
        f"reasons: {_reasons(summary['escalation_reasons'])}; {claim}"
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
        f"{accuracy} right, {summary['reflections']} reflections"
        + (
            f" ({summary['follow_ups_answered']} of {summary['follow_ups_sent']} follow-ups "
            "on what they tried)"
            if summary["follow_ups_sent"]
            else ""
        ),
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
