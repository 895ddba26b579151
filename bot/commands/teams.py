"""`servicecoach teams list|set`: each team's pack, coaches, calendar and policy."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.admin.teams import (
    TeamChanges,
    TeamOutcome,
    TeamSummary,
    configure_team,
    policy_reference,
    team_summaries,
)
from bot.app import open_database
from bot.clock import SystemClock
from bot.commands.common import run, settings

teams_app = typer.Typer(
    help="See and set each team's pack, coaches and policy.", no_args_is_help=True
)


def _policy_help() -> str:
    """The epilog of `teams set --help`: every policy setting with its default."""
    lines = [
        f"{name} (default {default}): {meaning}" for name, default, meaning in policy_reference()
    ]
    return "Policy settings for --set KEY=VALUE:\n\n" + "\n\n".join(lines)


@teams_app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show every team: pack, coaches, calendar, working days, learners, policy overrides."""

    async def _go() -> list[TeamSummary]:
        async with open_database(settings()) as database, database.sessions() as session:
            return await team_summaries(session)

    summaries = run(_go())
    if as_json:
        typer.echo(json.dumps([summary.as_json() for summary in summaries], indent=2))
        return
    if not summaries:
        typer.echo("no teams yet: `roster import FILE.csv` or `teams set TEAM --create` makes them")
        return
    table = Table("team", "pack", "coaches", "calendar", "workdays", "learners", "policy overrides")
    for summary in summaries:
        pack = summary.pack or "-"
        if summary.pack and not summary.pack_assigned:
            pack += " (only pack)"
        overrides = ", ".join(f"{key}={value}" for key, value in summary.overrides.items())
        table.add_row(
            *(
                Text(cell)
                for cell in (
                    summary.name,
                    pack,
                    ", ".join(summary.coaches) or "-",
                    summary.calendar or "-",
                    summary.workdays,
                    str(summary.learners),
                    overrides or "defaults",
                )
            )
        )
    Console().print(table)


@teams_app.command("set", epilog=_policy_help())
def set_command(
    team: str = typer.Argument(..., help="Team name; a new team needs --create."),
    create: bool = typer.Option(False, "--create", help="Create TEAM if it does not exist yet."),
    pack: str | None = typer.Option(
        None, "--pack", help="Pack id; moves the team's learners to it, keeping their history."
    ),
    coach: list[str] = typer.Option(
        [], "--coach", help="Make this person (name, email or platform:id) a coach of the team."
    ),
    make_coach: bool = typer.Option(
        False,
        "--make-coach",
        help="Let --coach turn a learner (who then gets no lessons) or an admin into a coach.",
    ),
    calendar: str | None = typer.Option(
        None,
        "--holidays",
        help="Public-holiday calendar CC or CC-SUBDIV (e.g. GB-ENG), or 'none'. Default: none.",
    ),
    workdays: str | None = typer.Option(
        None, "--workdays", help="Working days, e.g. mon-fri or sun-thu. Default: mon-fri."
    ),
    assignments: list[str] = typer.Option(
        [], "--set", help="Override one policy setting, KEY=VALUE (repeatable; see below)."
    ),
    reset: bool = typer.Option(
        False, "--reset", help="Drop every policy override (before any --set)."
    ),
) -> None:
    """Set a team's pack, coaches, holidays, working days or policy; --create makes a new one."""
    changes = TeamChanges(
        pack_id=pack,
        coaches=tuple(coach),
        holidays=calendar,
        workdays=workdays,
        assignments=tuple(assignments),
        reset=reset,
        create=create,
        make_coach=make_coach,
    )

    async def _go() -> TeamOutcome:
        async with open_database(settings()) as database, database.sessions.begin() as session:
            return await configure_team(
                session, name=team, changes=changes, now=SystemClock().now()
            )

    outcome = run(_go())
    typer.echo(f"team {outcome.team.name} {'created' if outcome.created else 'updated'}")
    if pack is not None:
        typer.echo(f"{outcome.learners_moved} learner(s) now on pack {pack}")
    if outcome.coaches:
        typer.echo(f"coaches added: {', '.join(outcome.coaches)}")
    for name in outcome.already_coaches:
        typer.echo(f"{name} is already a coach of {outcome.team.name}")


def register(app: typer.Typer) -> None:
    """Add the `teams` group to the root app."""
    app.add_typer(teams_app, name="teams")
