"""The `servicecoach` command line: one Typer app composed from `bot.commands`."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from bot import __version__
from bot.commands import COMMAND_MODULES
from bot.errors import DomainError, UserError


class _OneLineErrors(TyperGroup):
    """Turns a `UserError` or `DomainError` anywhere below into one line on stderr, exit code 1."""

    def invoke(self, ctx: Any) -> Any:  # typer keeps the click Context it takes private
        """Run the chosen command, reporting bad input without a traceback."""
        try:
            return super().invoke(ctx)
        except (UserError, DomainError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_OneLineErrors,
    name="servicecoach",
    help="Daily customer-service micro-lessons for front-line staff, in Slack or Telegram.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
for module in COMMAND_MODULES:
    module.register(app)


def _show_version(value: bool) -> None:
    """Print the version and stop."""
    if value:
        typer.echo(f"servicecoach {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False,
        "--version",
        help="Show the version and exit.",
        is_eager=True,
        callback=_show_version,
    ),
) -> None:
    """Daily customer-service micro-lessons for front-line staff."""


def main() -> None:
    """Run the CLI."""
    app()
