"""`servicecoach roster import`: people and teams from a CSV file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bot.admin.roster import COLUMNS, Roster, RosterInvalid, parse_roster
from bot.admin.roster_import import ImportSummary, PersonDefaults, import_roster
from bot.app import build_transports, open_database, slack_email_lookup
from bot.clock import SystemClock
from bot.commands.common import run, settings, telegram_bot_name
from bot.config import Settings
from bot.errors import UserError
from bot.transports import TransportError

roster_app = typer.Typer(help="Import people and teams from a CSV roster.", no_args_is_help=True)


def _fail(source: Path, invalid: RosterInvalid) -> NoReturn:
    """Print every problem, then stop with one summary line and exit code 1."""
    if len(invalid.problems) == 1:
        raise UserError(invalid.problems[0])
    for problem in invalid.problems:
        typer.echo(problem, err=True)
    raise UserError(f"{len(invalid.problems)} problems in {source}; nothing was imported")


@roster_app.command("import")
def import_command(
    file: Path = typer.Argument(..., help=f"CSV file with the header {','.join(COLUMNS)}."),
    sync: bool = typer.Option(
        False,
        "--sync",
        help="Also make people of the listed teams who are not in the file inactive "
        "(history kept; their pending messages are cancelled).",
    ),
) -> None:
    """Create or update people and teams from FILE, and enrol learners in their team's pack.

    Only name, team and one address (platform + platform_id, or email) are required.
    Blank timezone and send_time take DEFAULT_TIMEZONE and DEFAULT_SEND_TIME for new
    people and keep what is stored for known ones. One bad row imports nothing.
    """
    config = settings()
    defaults = PersonDefaults(timezone=config.default_timezone, send_time=config.default_send_time)
    try:
        rows = parse_roster(file)
    except RosterInvalid as invalid:
        _fail(file, invalid)

    lookup = slack_email_lookup(build_transports(config, write=None))

    async def _go(rows: Roster, progress: Callable[[int], object]) -> ImportSummary:
        async with open_database(config) as database, database.sessions.begin() as session:
            return await import_roster(
                session,
                rows,
                source=str(file),
                defaults=defaults,
                sync=sync,
                now=SystemClock().now(),
                lookup=lookup,
                progress=progress,
            )

    try:
        with _progress_bar() as bar:
            task = bar.add_task("importing", total=len(rows))
            summary = run(_go(rows, lambda done: bar.update(task, completed=done)))
    except RosterInvalid as invalid:
        _fail(file, invalid)
    except TransportError as exc:
        raise UserError(f"cannot look people up in Slack: {exc}; nothing was imported") from None
    _report(summary, bot_name=_bot_name(config) if summary.invites else None)


def _progress_bar() -> Progress:
    """A bar on stderr that shows rows done while a terminal watches, and nothing otherwise."""
    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def _bot_name(config: Settings) -> str | None:
    """The Telegram bot's username for invite links; None (with a note) when unknown."""
    try:
        return telegram_bot_name(config)
    except UserError as exc:
        typer.echo(f"note: {exc}", err=True)
        return None


def _report(summary: ImportSummary, *, bot_name: str | None = None) -> None:
    """Print what the import did and who still has to be reached."""
    typer.echo(
        f"{summary.created} created, {summary.updated} updated, {summary.unchanged} unchanged, "
        f"{summary.deactivated} deactivated"
    )
    if summary.teams_created:
        typer.echo(f"new teams: {', '.join(summary.teams_created)}")
    if summary.invites and bot_name is not None:
        typer.echo("Telegram invites (pending until they press Start):")
    elif summary.invites:
        typer.echo(
            "Telegram invites (pending until they press Start; the bot's username is not "
            "known offline, so replace <your-bot> with it):"
        )
    for name, code in summary.invites:
        typer.echo(f"  {name}: code {code}  https://t.me/{bot_name or '<your-bot>'}?start={code}")
    for line in summary.not_in_slack:
        typer.echo(f"{line}: nobody in Slack has this email (kept, pending)")
    if summary.pending_slack:
        typer.echo(
            f"pending until the running bot finds them in Slack by email: "
            f"{', '.join(summary.pending_slack)}"
        )
    if summary.without_pack:
        typer.echo(
            f"{summary.without_pack} learner(s) not enrolled: their team has no pack "
            "(load one pack, or `teams set TEAM --pack ID`)"
        )


def register(app: typer.Typer) -> None:
    """Add the `roster` group to the root app."""
    app.add_typer(roster_app, name="roster")
