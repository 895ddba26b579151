"""`servicecoach db …`: schema migrations."""

from __future__ import annotations

import typer

from bot.app import open_database
from bot.commands.common import run, settings
from storage import migrate

db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade() -> None:
    """Apply every pending migration to the configured database."""

    async def _go() -> str | None:
        async with open_database(settings(), upgrade=True) as database:
            return await migrate.current_revision(database.engine)

    typer.echo(f"database at revision {run(_go())}")


def register(app: typer.Typer) -> None:
    """Add the `db` group to the root app."""
    app.add_typer(db_app, name="db")
