"""`servicecoach run`, `deliver now` and `deliveries`: the engine from the command line."""

from __future__ import annotations

import json
import logging
import sys
from datetime import date
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlmodel import col, select

from bot.admin.teams import find_person
from bot.app import build_runtime, build_transports, open_database, serve, started
from bot.clock import SystemClock
from bot.commands.common import run as run_async
from bot.commands.common import settings as read_settings
from bot.config import Settings
from bot.errors import UserError
from bot.outbox.daily import MISSED
from bot.outbox.planner import plan_tick
from storage.db import SessionFactory
from storage.models import Delivery, DeliveryStatus, Person, Role, Team

MISSED_STATUS = "missed"  # failed rows whose retries ran out with the learner's day

deliver_app = typer.Typer(help="Send lessons outside the schedule.", no_args_is_help=True)


def run() -> None:
    """Run the bot: migrations, transports, and the scheduler's tick jobs."""
    settings = read_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s"
    )
    # APScheduler logs every run of every job at INFO (a line every 5 seconds), Alembic
    # its migration context at every start, httpx every request with its URL (which
    # holds the Telegram bot token).
    quiet = max(logging.getLogger().getEffectiveLevel(), logging.WARNING)
    for noisy in ("apscheduler", "alembic", "httpx"):
        logging.getLogger(noisy).setLevel(quiet)
    run_async(serve(settings, say=typer.echo))


async def _chosen(sessions: SessionFactory, team: str | None, learner: str | None) -> list[int]:
    """Ids of the learners `deliver now` is for; a name matching nobody, or several, is an error."""
    async with sessions() as session:
        team_id = None
        if team is not None:
            team_id = (await session.exec(select(Team.id).where(Team.name == team))).first()
            if team_id is None:
                raise UserError(f"no team called {team!r} (see `servicecoach teams list`)")
        if learner is not None:
            person = await find_person(session, learner, include_inactive=True)
            if team_id is not None and person.team_id != team_id:
                raise UserError(f"{person.name} is not in team {team!r}")
            return [person.id]
        statement = select(Person.id).where(Person.role == Role.LEARNER)
        if team_id is not None:
            statement = statement.where(Person.team_id == team_id)
        ids = list((await session.exec(statement)).all())
    if not ids:
        raise UserError("no learners to deliver to")
    return ids


def _progress() -> Progress:
    """Progress bars on stderr, shown only when stderr is a terminal."""
    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        disable=not console.is_terminal,
        redirect_stdout=sys.stdout.isatty(),  # messages printed meanwhile stay on stdout
    )


async def _deliver_now(settings: Settings, team: str | None, learner: str | None) -> None:
    """Plan today's lesson at once for every chosen learner and send their rows that are due."""
    clock = SystemClock()
    async with open_database(settings) as database:
        person_ids = await _chosen(database.sessions, team, learner)
        transports = build_transports(settings)
        runtime = build_runtime(
            database=database, settings=settings, clock=clock, transports=transports
        )
        async with started(transports, None):
            with _progress() as progress:
                planning = progress.add_task("planning", total=len(person_ids))
                planned = await plan_tick(
                    sessions=database.sessions,
                    clock=clock,
                    person_ids=person_ids,
                    now_for_everyone=True,
                    batch=None,
                    progress=lambda count: progress.advance(planning, count),
                )
                sending = progress.add_task("sending", total=None)
                sent = await runtime.dispatcher.drain(
                    person_ids=person_ids,
                    on_batch=lambda step: progress.advance(sending, step.handled),
                )
                progress.update(sending, total=sent.handled)
    names = f": {_listed(planned.planned)}" if planned.planned else ""
    typer.echo(f"planned today's lesson for {len(planned.planned)} learner(s){names}")
    typer.echo(f"sent {sent.sent} message(s)")
    for reason, count in sorted(planned.skipped.items()):
        typer.echo(f"skipped {count}: {reason}")
    for failure in sent.failed:
        typer.echo(f"failed: {failure}")
    if sent.released:
        typer.echo(
            f"{sent.released} message(s) could not be sent yet: `servicecoach run` retries them "
            "until the end of each learner's day (`servicecoach deliveries --status pending`)"
        )


def _listed(names: list[str], *, shown: int = 20) -> str:
    """Names separated by commas, the first `shown` of them and how many more."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


@deliver_app.command("now")
def deliver_now(
    team: str | None = typer.Option(None, "--team", help="Only this team's learners."),
    learner: str | None = typer.Option(
        None, "--learner", help="Only this learner: name, email or platform:id."
    ),
) -> None:
    """Send today's lesson now, ignoring working days and holidays (never pauses).

    It uses the same keys as the scheduler, so running it twice sends once and
    the scheduler will not send that day's lesson again. Safe while `run` runs.
    """
    run_async(_deliver_now(read_settings(), team, learner))


async def _outbox(
    settings: Settings, day: date | None, status: str | None, learner: str | None
) -> list[dict[str, object]]:
    """Outbox rows as plain dicts, newest first."""
    async with open_database(settings) as database, database.sessions() as session:
        statement = (
            select(Delivery, Person)
            .join(Person, col(Person.id) == col(Delivery.person_id))
            .order_by(col(Delivery.due_at).desc(), col(Delivery.id).desc())
            .limit(500)
        )
        if day is not None:
            statement = statement.where(Delivery.local_date == day)
        if status == MISSED_STATUS:
            statement = statement.where(
                Delivery.status == DeliveryStatus.FAILED, col(Delivery.reason).startswith(MISSED)
            )
        elif status is not None:
            statement = statement.where(Delivery.status == status)
        if learner is not None:
            statement = statement.where(Person.name == learner)
        rows = (await session.exec(statement)).all()
    return [
        {
            "id": delivery.id,
            "learner": person.name,
            "key": delivery.delivery_key,
            "kind": delivery.kind,
            "due_local": delivery.due_at.astimezone(ZoneInfo(person.timezone)).strftime(
                "%Y-%m-%d %H:%M"
            ),
            "timezone": person.timezone,
            "status": delivery.status,
            "attempts": delivery.attempts,
            "reason": delivery.reason or "",
        }
        for delivery, person in rows
    ]


def deliveries(
    day: str | None = typer.Option(None, "--date", help="Local date YYYY-MM-DD."),
    status: str | None = typer.Option(
        None,
        "--status",
        help="pending, claimed, sent, failed, cancelled, or missed (failed: not delivered "
        "by the end of the learner's day).",
    ),
    learner: str | None = typer.Option(None, "--learner", help="Only this learner."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the outbox: who gets what, when (their local time), and how it ended."""
    try:
        chosen_day = date.fromisoformat(day) if day else None
    except ValueError:
        raise UserError(f"--date must be YYYY-MM-DD, not {day!r}") from None
    statuses = [*(s.value for s in DeliveryStatus), MISSED_STATUS]
    if status is not None and status not in statuses:
        raise UserError(f"--status must be one of {', '.join(statuses)}")
    rows = run_async(_outbox(read_settings(), chosen_day, status, learner))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("learner", "key", "kind", "due (local)", "status", "tries", "reason")
    for row in rows:
        table.add_row(
            str(row["learner"]),
            str(row["key"]),
            str(row["kind"]),
            str(row["due_local"]),
            str(row["status"]),
            str(row["attempts"]),
            str(row["reason"]),
        )
    Console().print(table)
    missed = sum(str(row["reason"]).startswith(MISSED) for row in rows)
    typer.echo(
        f"{len(rows)} {'delivery' if len(rows) == 1 else 'deliveries'}"
        + (f", {missed} missed (not delivered by the end of the learner's day)" if missed else "")
    )


def register(app: typer.Typer) -> None:
    """Add `run`, `deliver now` and `deliveries` to the root app."""
    app.command("run")(run)
    app.add_typer(deliver_app, name="deliver")
    app.command("deliveries")(deliveries)
