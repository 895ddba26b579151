"""`servicecoach report`, `escalations list` and `learner show|export|forget`."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.admin.privacy import export_person, forget_person
from bot.admin.read_models import (
    CASE_STATUSES,
    CaseRow,
    LearnerDetail,
    LearnerRow,
    age_text,
    case_rows,
    learner_detail,
    learner_rows,
    percent,
    report_json,
    totals,
)
from bot.admin.teams import find_person
from bot.app import open_database
from bot.clock import SystemClock
from bot.coaching.people import person_label
from bot.commands.common import run, settings
from bot.errors import UserError
from storage.models import Person

T = TypeVar("T")

escalations_app = typer.Typer(help="Coaching cases: who, why, and who has them.")
learner_app = typer.Typer(help="One learner: a coach's view, their data, erasing it.")

CSV_COLUMNS = (
    "name",
    "team",
    "status",
    "pack",
    "lessons_done",
    "lessons_total",
    "finished",
    "answers",
    "correct",
    "accuracy",
    "reviews_sent",
    "reviews_due",
    "reflections",
    "missed",
    "open_case",
)


def _query(work: Callable[[AsyncSession], Awaitable[T]], *, write: bool = False) -> T:
    """Open the database, run `work` in one session (a transaction when writing)."""

    async def _go() -> T:
        async with open_database(settings()) as database:
            if write:
                async with database.sessions.begin() as session:
                    return await work(session)
            async with database.sessions() as session:
                return await work(session)

    return run(_go())


def totals_line(rows: list[LearnerRow]) -> str:
    """The cohort in one sentence under the table."""
    total = totals(rows)
    return (
        f"{total.learners} learners, {total.finished} finished the pack, {total.answers} answers "
        f"({percent(total.accuracy)} right), {total.reviews_sent} reviews sent, "
        f"{total.reflections} reflections, {total.missed} messages missed (not delivered by "
        f"the end of the learner's day), {total.open_cases} open cases"
    )


def learner_table(rows: list[LearnerRow]) -> Table:
    """The per-learner table of `report`."""
    table = Table("learner", "team", "status", "lessons", "answers", "accuracy", "due", "case")
    for column in table.columns[3:]:
        column.no_wrap = True
    for row in rows:
        table.add_row(
            Text(row.name),
            Text(row.team or "-"),
            row.status,
            Text(row.progress),
            str(row.answers),
            percent(row.accuracy),
            str(row.reviews_due),
            Text(row.open_case or "-"),
        )
    return table


def register(app: typer.Typer) -> None:
    """Add `report`, `escalations` and `learner` to the root app."""
    app.command("report")(report)
    app.add_typer(escalations_app, name="escalations")
    app.add_typer(learner_app, name="learner")


def report(
    as_csv: bool = typer.Option(False, "--csv", help="One CSV row per learner on stdout."),
    as_json: bool = typer.Option(False, "--json", help="Learners and totals as one JSON object."),
) -> None:
    """Progress of every learner: lessons done of the pack, answers, accuracy, reviews, cases."""
    if as_csv and as_json:
        raise UserError("choose one of --csv and --json")
    now = SystemClock().now()
    rows = _query(lambda session: learner_rows(session, now=now))
    if as_json:
        typer.echo(json.dumps(report_json(rows), indent=2, sort_keys=True))
    elif as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow(["" if (v := getattr(row, c)) is None else v for c in CSV_COLUMNS])
    elif not rows:
        typer.echo("no learners yet: `roster import FILE.csv` adds them")
    else:
        Console().print(learner_table(rows))
        typer.echo(totals_line(rows))


def case_table(rows: list[CaseRow]) -> Table:
    """The table of `escalations list`."""
    table = Table("case", "learner", "reason", "opened", "coach", "status", "age")
    for row in rows:
        table.add_row(
            f"#{row.id}",
            Text(row.learner),
            Text(row.reason),
            f"{row.opened_at:%Y-%m-%d %H:%M}",
            Text(row.coach or "-"),
            row.status,
            age_text(row.age_hours),
        )
    return table


@escalations_app.command("list")
def list_escalations(
    status: str = typer.Option(
        "open", "--status", help="open (includes claimed), claimed, resolved or all."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
) -> None:
    """Cases with learner, reason, when opened, coach, status and age (times in UTC)."""
    if status not in CASE_STATUSES:
        raise UserError(f"--status must be one of {', '.join(CASE_STATUSES)}, not {status!r}")
    now = SystemClock().now()
    rows = _query(lambda session: case_rows(session, now=now, status=status))
    if as_json:
        typer.echo(json.dumps([row.as_json() for row in rows], indent=2))
    elif not rows:
        typer.echo(f"no {status} cases" if status != "all" else "no cases yet")
    else:
        Console().print(case_table(rows))


def detail_lines(detail: LearnerDetail) -> list[str]:
    """`learner show` as plain lines (names and texts are never read as markup)."""
    person, summary = detail.person, detail.summary
    lines = [
        f"{person_label(person)}, {person.role}, {person.status}",
        f"Team: {summary.team or '-'}   Schedule: {detail.schedule}",
        f"Pack: {summary.pack or '-'}   Lessons: {summary.progress}"
        + (" (reviews only from now on)" if summary.finished else "")
        + f"   Streak: {detail.streak}",
        f"Answers: {summary.answers}, accuracy {percent(summary.accuracy)}; "
        f"reviews sent {summary.reviews_sent}, due now {summary.reviews_due}",
    ]
    if detail.topics:
        lines.append("Accuracy by topic:")
        lines += [
            f"  {topic}: {right}/{total} ({right / total:.0%})"
            for topic, right, total in detail.topics
        ]
    if detail.recent:
        lines.append("Recent answers (expected chance of a right answer → result):")
        for a in detail.recent:
            kind = "review" if a.review else "new"
            late = ", late" if a.late else ""
            lines.append(
                f"  {a.at:%Y-%m-%d %H:%M} {a.item} ({a.topic}, {kind}{late}): "
                f"{a.expected:.2f} → {'right' if a.correct else 'wrong'}  “{a.answer}”"
            )
    if detail.reflections:
        lines.append("Reflections:")
        lines += [
            f"  {at:%Y-%m-%d} {'[asks for help] ' if helpish else ''}“{text}”"
            for at, text, helpish in detail.reflections
        ]
    lines.append("Cases:" if detail.cases else "Cases: none")
    for history in detail.cases:
        row = history.row
        lines.append(
            f"  #{row.id} {row.status}: {row.reason} (opened {row.opened_at:%Y-%m-%d %H:%M}, "
            f"coach {row.coach or '-'}, {age_text(row.age_hours)})"
        )
        for at, kind, text in history.events:
            lines.append(f"    {at:%Y-%m-%d %H:%M} {kind}" + (f": {text}" if text else ""))
    return lines


@learner_app.command("show")
def show(name: str = typer.Argument(..., help="Name, email or platform:id.")) -> None:
    """A coach's view of one learner: schedule, progress, recent answers, reflections, cases."""
    now = SystemClock().now()

    async def _detail(session: AsyncSession) -> LearnerDetail:
        person = await find_person(session, name, include_inactive=True)
        return await learner_detail(session, person=person, now=now)

    for line in detail_lines(_query(_detail)):
        typer.echo(line)


@learner_app.command("export")
def export(name: str = typer.Argument(..., help="Name, email or platform:id.")) -> None:
    """Everything stored about one person, as JSON on stdout."""

    async def _export(session: AsyncSession) -> dict[str, Any]:
        return await export_person(session, await find_person(session, name, include_inactive=True))

    typer.echo(json.dumps(_query(_export), indent=2, ensure_ascii=False))


@learner_app.command("forget")
def forget(
    name: str = typer.Argument(..., help="Name, email or platform:id."),
    yes: bool = typer.Option(False, "--yes", help="Confirm: this cannot be undone."),
) -> None:
    """Erase a person's personal data, keeping only anonymous statistics."""
    if not yes:
        raise UserError(f"forgetting {name!r} cannot be undone; add --yes to confirm")
    now = SystemClock().now()

    async def _forget(session: AsyncSession) -> str:
        person: Person = await find_person(session, name, include_inactive=True)
        shown = person.name
        await forget_person(session, person, now)
        return shown

    typer.echo(f"forgot {_query(_forget, write=True)}: only anonymous statistics remain")
