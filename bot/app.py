"""Composition root: builds the database and services from Settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import Clock
from bot.coaching.digest import coach_digest_tick
from bot.coaching.escalation import sla_tick
from bot.coaching.nudges import nudge_tick
from bot.coaching.planner import plan_tick
from bot.coaching.service import CoachingService
from bot.coaching.signals import silence_tick
from bot.config import Settings
from bot.dispatcher import Dispatcher
from bot.errors import UserError
from bot.scheduler import TickJob
from bot.transports import Transport
from bot.transports.console import ConsoleTransport
from storage import migrate
from storage.db import SessionFactory, create_engine, session_factory


@dataclass(frozen=True, slots=True)
class Database:
    """An open database: the engine and the factory of sessions on it."""

    engine: AsyncEngine
    sessions: SessionFactory


def _reason(exc: Exception) -> str:
    """The driver's own first line about why a connection failed."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


def _missing_sqlite_folder(engine: AsyncEngine) -> Path | None:
    """The folder a SQLite database file should be in, when it does not exist."""
    name = engine.url.database
    if engine.dialect.name != "sqlite" or not name or name == ":memory:":
        return None
    folder = Path(name).parent
    return None if folder.is_dir() else folder


async def _connect(url: str) -> AsyncEngine:
    """An engine that has proved it can connect, or a one-line `UserError` saying why not."""
    try:
        engine = create_engine(url)
    except (SQLAlchemyError, ValueError) as exc:  # bad URL or driver; never echo the URL
        raise UserError(f"cannot open database: {_reason(exc)} (check DATABASE_URL)") from None
    shown = engine.url.render_as_string(hide_password=True)
    folder = _missing_sqlite_folder(engine)
    if folder is not None:
        # Checked up front: aiosqlite's failed connect may report to a closed event loop.
        raise UserError(f"cannot open database {shown}: folder {folder} does not exist")
    try:
        async with engine.connect():
            pass
    except (SQLAlchemyError, OSError) as exc:
        await engine.dispose()
        raise UserError(f"cannot open database {shown}: {_reason(exc)}") from None
    return engine


@asynccontextmanager
async def open_database(settings: Settings, *, upgrade: bool = True) -> AsyncIterator[Database]:
    """Open the configured database, apply pending migrations, and close it afterwards."""
    engine = await _connect(settings.database_url)
    try:
        if upgrade:
            await migrate.upgrade(engine)
        yield Database(engine=engine, sessions=session_factory(engine))
    finally:
        await engine.dispose()


def build_transports(
    settings: Settings, *, write: Callable[[str], None] | None = print
) -> dict[str, Transport]:
    """The chat platforms this process sends on, by platform name, from the settings.

    The console is always there (it prints through `write`); each chat platform
    adds its transport here when its settings are given.
    """
    return {"console": ConsoleTransport(write=write)}


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything the tick jobs and inbound handlers need, wired once."""

    database: Database
    clock: Clock
    transports: Mapping[str, Transport]
    dispatcher: Dispatcher
    service: CoachingService
    admin_addresses: tuple[str, ...]

    def ticks(self) -> list[TickJob]:
        """The scheduler's jobs: each an async tick on this runtime's clock, awaited on the loop."""
        on_clock = {"sessions": self.database.sessions, "clock": self.clock}
        to_admins = {**on_clock, "admin_addresses": self.admin_addresses}
        return [
            TickJob("plan", 60, partial(plan_tick, **on_clock)),
            TickJob("dispatch", 5, self.dispatcher.tick),
            TickJob("nudge", 300, partial(nudge_tick, **on_clock)),
            TickJob("sla", 600, partial(sla_tick, **to_admins)),
            TickJob("silence", 3600, partial(silence_tick, **to_admins)),
            TickJob("digest", 600, partial(coach_digest_tick, **on_clock)),
        ]


def build_runtime(
    *,
    database: Database,
    settings: Settings,
    clock: Clock,
    transports: Mapping[str, Transport],
) -> Runtime:
    """Wire the dispatcher and the coaching service; feedback is dispatched at once."""
    admin_addresses = tuple(settings.admin_addresses)
    dispatcher = Dispatcher(
        sessions=database.sessions,
        transports=transports,
        clock=clock,
        admin_addresses=admin_addresses,
    )

    async def dispatch_now() -> None:
        await dispatcher.drain(max_ticks=5)

    service = CoachingService(
        sessions=database.sessions,
        clock=clock,
        admin_addresses=admin_addresses,
        on_outbox=dispatch_now,
    )
    return Runtime(database, clock, transports, dispatcher, service, admin_addresses)
