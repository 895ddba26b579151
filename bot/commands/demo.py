"""`servicecoach demo` (a simulated cohort, then a report) and `shell` (be a learner)."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import Database, open_database
from bot.clock import SimulatedClock, SystemClock
from bot.commands.common import run, settings
from bot.config import Settings
from bot.demo.simulation import DemoConfig, DemoRun, simulate
from bot.demo.summary import print_human, summarise
from bot.errors import UserError
from bot.transports.console import print_styled
from bot.transports.console_shell import (
    ensure_learner,
    open_shell,
    refuse_foreign_database,
    resume_time,
)


def _database_url(db: str | None, folder: str) -> str:
    """The demo's database: a SQLite file given with --db (or a URL), else a temporary one."""
    if db is None:
        return f"sqlite+aiosqlite:///{Path(folder) / 'demo.db'}"
    return db if "://" in db else f"sqlite+aiosqlite:///{Path(db).resolve()}"


async def _demo(
    config: DemoConfig, base: Settings, url: str, *, on_day: Callable[[int], None] | None
) -> tuple[DemoRun, dict[str, Any]]:
    """Simulate on a fresh database and summarise it."""
    demo_settings = base.model_copy(update={"database_url": url})
    async with open_database(demo_settings, upgrade=True) as database:
        outcome = await simulate(config, database=database, settings=demo_settings, on_day=on_day)
        return outcome, await summarise(database, outcome)


def demo(
    learners: int = typer.Option(24, "--learners", min=1, max=500, help="Learners to simulate."),
    days: int = typer.Option(20, "--days", min=1, max=120, help="Simulated days."),
    seed: int = typer.Option(1, "--seed", help="Same seed, same cohort, same output."),
    db: str | None = typer.Option(
        None, "--db", help="Keep the simulated database in this new SQLite file (or URL)."
    ),
    pack: Path | None = typer.Option(
        None, "--pack", help="Teach this pack folder instead of the starter pack."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object and nothing else."),
) -> None:
    """Simulate a cohort (four personas, four timezones, one coach) and report what happened."""
    if db is not None and "://" not in db and Path(db).exists():
        raise UserError(f"{db} already exists; the demo writes a new database")
    config = DemoConfig(learners=learners, days=days, seed=seed, pack=pack)
    base = settings()
    # Progress goes to stderr and only to a terminal: stdout stays the report (or the JSON).
    status = Console(stderr=True).status("Setting up the simulated team…")

    def on_day(day: int) -> None:
        status.update(f"Simulating day {day} of {days} ({learners} learners)…")

    with tempfile.TemporaryDirectory(prefix="servicecoach-demo-") as folder, status:
        outcome, summary = run(_demo(config, base, _database_url(db, folder), on_day=on_day))
    if as_json:
        typer.echo(json.dumps(summary, sort_keys=True))
        return
    print_human(Console(), outcome, summary)
    if db is not None:
        typer.echo(f"The simulated data is in {db}: try `report` or `learner show NAME` on it.")


def _shell_database_url(db: str | None, settings: Settings) -> str:
    """The shell's database: --db (a SQLite file or URL), else the per-user shell file."""
    if db is not None:
        return _database_url(db, ".")
    path = settings.shell_database_path
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{path}"


def _shown(engine: AsyncEngine) -> str:
    """A SQLite database as its file, any other as its URL without the password."""
    if engine.dialect.name == "sqlite" and engine.url.database:
        return engine.url.database
    return engine.url.render_as_string(hide_password=True)


async def _shell(base: Settings, *, name: str, fast: bool, db: str | None) -> None:
    """Run the interactive loop until `quit` or the end of input."""
    clock = SimulatedClock(SystemClock().now())
    own = base.model_copy(update={"database_url": _shell_database_url(db, base)})

    async def refuse_foreign(database: Database) -> None:
        await refuse_foreign_database(database, shown=_shown(database.engine))

    async with open_database(own, upgrade=True, before_upgrade=refuse_foreign) as database:
        where = "--db" if db is not None else "the shell's own; DATABASE_URL is not used"
        typer.echo(f"Shell database: {_shown(database.engine)} ({where})")
        learner = await ensure_learner(database, name=name, settings=base, now=clock.now())
        clock.set(await resume_time(database, learner=learner, now=clock.now()))
        session = open_shell(
            database=database, settings=base, clock=clock, learner=learner, write=print_styled
        )
        await session.start()
        try:
            while True:
                typer.echo("> ", nl=False)
                line = sys.stdin.readline()
                if not line:
                    typer.echo()
                    return
                if not await session.handle_line(line, fast=fast):
                    return
        finally:
            await session.close()


def shell(
    learner: str = typer.Option("you", "--learner", help="Your learner name (one word)."),
    fast: bool = typer.Option(
        False,
        "--fast",
        help="Skip to the next lesson as soon as the day's questions and reflection are answered.",
    ),
    db: str | None = typer.Option(
        None,
        "--db",
        help="Use this SQLite file (or URL) instead of the shell's own database; refused if it "
        "holds anyone the shell did not create.",
    ),
) -> None:
    """Be a learner in the terminal: the real engine, a console chat and simulated time.

    The shell keeps its own database, $XDG_DATA_HOME/servicecoach/shell.db (by default
    ~/.local/share/servicecoach/shell.db), and never uses DATABASE_URL: time moves ahead
    in the shell, and future-dated lessons must not reach the database `run` uses.
    """
    run(_shell(settings(), name=learner, fast=fast, db=db))


def register(app: typer.Typer) -> None:
    """Add `demo` and `shell` to the root app."""
    app.command("demo")(demo)
    app.command("shell")(shell)
