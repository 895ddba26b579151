"""`servicecoach invite create`: a code that signs people up to a team from chat."""

from __future__ import annotations

from datetime import date, time, timedelta

import typer

from bot.admin.invites import create_invite
from bot.app import open_database
from bot.clock import SystemClock
from bot.coaching.calendar import local_instant
from bot.commands.common import run, settings, telegram_bot_name
from bot.errors import UserError
from storage.models import Invite, Role

invite_app = typer.Typer(help="Invite people to a team from chat.", no_args_is_help=True)


def _last_day(text: str | None) -> date | None:
    """The `--expires` date, or a one-line error."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"--expires {text!r}: give a date as YYYY-MM-DD") from None


@invite_app.command("create")
def create_command(
    team: str = typer.Option(..., "--team", help="The team people join."),
    role: str = typer.Option(Role.LEARNER, "--role", help="learner, coach or admin."),
    uses: int | None = typer.Option(None, "--uses", help="How many people may use it (no limit)."),
    expires: str | None = typer.Option(
        None, "--expires", help="Last day it works, YYYY-MM-DD, in DEFAULT_TIMEZONE (never)."
    ),
) -> None:
    """Print a new invite code (and its Telegram link): people sign up to TEAM with it."""
    config = settings()
    last_day = _last_day(expires)
    bot_name = telegram_bot_name(config)  # before the invite exists: a bad token leaves none
    expires_at = None
    if last_day is not None:
        expires_at = local_instant(last_day + timedelta(days=1), time(0), config.default_timezone)

    async def _go() -> Invite:
        async with open_database(config) as database, database.sessions.begin() as session:
            return await create_invite(
                session,
                team_name=team,
                role=role,
                uses=uses,
                expires_at=expires_at,
                now=SystemClock().now(),
            )

    invite = run(_go())
    limit = f"{invite.uses_left} use(s)" if invite.uses_left is not None else "no use limit"
    until = f"until the end of {last_day}" if last_day is not None else "no expiry"
    typer.echo(f"invite code {invite.code} for team {team} ({invite.role}, {limit}, {until})")
    if bot_name is not None:
        typer.echo(f"Telegram link: https://t.me/{bot_name}?start={invite.code}")
    typer.echo(f"people send `join {invite.code}` to the bot to sign up")


def register(app: typer.Typer) -> None:
    """Add the `invite` group to the root app."""
    app.add_typer(invite_app, name="invite")
