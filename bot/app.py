"""Composition root: builds the database and services from Settings, and runs them."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from rich.text import Text
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.admin.roster_import import EmailLookup, PersonDefaults
from bot.clock import Clock, SystemClock
from bot.coaching.escalation import sla_tick
from bot.coaching.people import handles_cases
from bot.coaching.signals import silence_tick
from bot.config import Settings
from bot.conversation import coach_commands, inbox, learner_commands
from bot.conversation.home import home_card
from bot.conversation.router import InboundRouter
from bot.errors import UserError
from bot.metrics import Metrics
from bot.outbox.digest import coach_digest_tick
from bot.outbox.dispatcher import Dispatcher
from bot.outbox.nudges import nudge_tick
from bot.outbox.pacing import Pacer
from bot.outbox.planner import PlanResult, plan_tick
from bot.outbox.sent import sent_message
from bot.scheduler import TickJob, TickScheduler, build_scheduler
from bot.transports import InboundSink, Transport, TransportDown
from bot.transports.console import ConsoleTransport, print_styled
from bot.web import ServesWeb, WebServer
from storage import migrate
from storage.db import (
    SessionFactory,
    create_engine,
    error_line,
    retried_on_lost_connection,
    session_factory,
    url_problem,
)
from storage.leases import hold_lease


@dataclass(frozen=True, slots=True)
class Database:
    """An open database: the engine and the factory of sessions on it."""

    engine: AsyncEngine
    sessions: SessionFactory


_CREATE_IT = "run `servicecoach db upgrade` (or `servicecoach run`) to create it"


def _sqlite_file(engine: AsyncEngine) -> Path | None:
    """The file of a SQLite database (None for PostgreSQL)."""
    name = engine.url.database
    if engine.dialect.name != "sqlite" or not name or name == ":memory:":
        return None
    return Path(name).resolve()


async def _connect(url: str, *, create: bool) -> AsyncEngine:
    """An engine that has proved it can connect, or a one-line `UserError` saying why not.

    Without `create`, a missing SQLite file is an error, and no file is left behind.
    """
    problem = url_problem(url)  # settings were checked, but `demo --db` gives its own URL
    if problem is not None:
        raise UserError(f"cannot open database: {problem}")
    try:
        engine = create_engine(url)
    except (SQLAlchemyError, ValueError) as exc:  # bad URL or driver; never echo the URL
        raise UserError(f"cannot open database: {error_line(exc)} (check DATABASE_URL)") from None
    shown = engine.url.render_as_string(hide_password=True)
    file = _sqlite_file(engine)
    # Checked up front: aiosqlite's failed connect may report to a closed event loop,
    # and a connect would create the file.
    if file is not None and not file.parent.is_dir():
        raise UserError(f"cannot open database {shown}: folder {file.parent} does not exist")
    if file is not None and not create and not file.exists():
        raise UserError(f"no database at {file}: {_CREATE_IT}")
    try:
        async with engine.connect():
            pass
    except (SQLAlchemyError, OSError) as exc:
        await engine.dispose()
        raise UserError(f"cannot open database {shown}: {error_line(exc)}") from None
    return engine


async def _check_schema(engine: AsyncEngine, *, upgrading: bool) -> None:
    """A one-line `UserError` unless the schema is this code's (or `upgrading` can make it so)."""
    revision = await migrate.current_revision(engine)
    place = _sqlite_file(engine) or engine.url.render_as_string(hide_password=True)
    if revision is not None and revision not in migrate.shipped_revisions():
        raise UserError(
            f"the database at {place} has schema revision {revision}, which this servicecoach "
            "does not know: it belongs to a newer version or to another program"
        )
    if upgrading or revision == migrate.head_revision():
        return
    if revision is None:
        raise UserError(f"no servicecoach tables in the database at {place}: {_CREATE_IT}")
    raise UserError(
        f"the database at {place} has an older schema ({revision}): run `servicecoach db upgrade`"
    )


@asynccontextmanager
async def open_database(
    settings: Settings,
    *,
    upgrade: bool = False,
    before_upgrade: Callable[[Database], Awaitable[None]] | None = None,
) -> AsyncIterator[Database]:
    """Open the configured database and close it afterwards.

    With `upgrade` (only `run`, `demo`, `shell` and `db upgrade`) it is created and
    migrated; otherwise it must already exist at this code's schema, or the command
    stops with one line saying how to create or upgrade it. `before_upgrade` may
    refuse the database (raising) before anything is written to it.
    """
    engine = await _connect(settings.database_url, create=upgrade)
    try:
        await _check_schema(engine, upgrading=upgrade)
        database = Database(engine=engine, sessions=session_factory(engine))
        if before_upgrade is not None:
            await before_upgrade(database)
        if upgrade:
            await migrate.upgrade(engine)
        yield database
    finally:
        await engine.dispose()


def build_transports(
    settings: Settings, *, write: Callable[[Text], None] | None = print_styled
) -> dict[str, Transport]:
    """The chat platforms this process sends on, by platform name, from the settings.

    The console is always there (it prints through `write`); each chat platform
    adds its transport here when its settings are given. A platform's module is
    imported only then: its client library costs every command a second of start-up.
    """
    transports: dict[str, Transport] = {"console": ConsoleTransport(write=write)}
    if settings.slack_bot_token:
        from bot.transports.slack import SlackTransport, slash_help

        transports["slack"] = SlackTransport(
            token=settings.slack_bot_token,
            api_base_url=settings.slack_api_base_url,
            signing_secret=settings.slack_signing_secret,
            app_token=settings.slack_app_token,
            default_team=settings.default_team,
            commands=(*learner_commands.COMMANDS, *coach_commands.NAMES),
            help_text=slash_help(learner_commands.HELP.format(example="2026-12-01")),
        )
    if settings.telegram_bot_token:
        from bot.transports.telegram import TelegramTransport

        transports["telegram"] = TelegramTransport(
            token=settings.telegram_bot_token,
            base_url=settings.telegram_api_base_url,
            webhook_url=settings.telegram_webhook_url,
            webhook_secret=settings.telegram_webhook_secret,
            send_rate=settings.telegram_send_rate,
        )
    return transports


def slack_email_lookup(transports: Mapping[str, Transport]) -> EmailLookup | None:
    """Slack's lookup of a person by email, when Slack is among `transports`."""
    if "slack" not in transports:
        return None
    from bot.transports.slack import SlackTransport

    slack = transports["slack"]
    return slack.user_by_email if isinstance(slack, SlackTransport) else None


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything the tick jobs and inbound handlers need, wired once."""

    database: Database
    clock: Clock
    transports: Mapping[str, Transport]
    dispatcher: Dispatcher
    service: InboundRouter
    admin_addresses: tuple[str, ...]
    metrics: Metrics

    async def plan_and_wake(self) -> PlanResult:
        """Plan the learners now due, and wake the dispatcher when that queued rows."""
        planned = await plan_tick(sessions=self.database.sessions, clock=self.clock)
        if planned.rows:
            await self.dispatcher.wake()
        return planned

    def once_only(
        self, name: str, seconds: float, tick: Callable[[], Awaitable[object]]
    ) -> Callable[[], Awaitable[object]]:
        """`tick`, run only while this process holds the job's lease (one process runs it).

        The lease lasts two intervals: when its holder stops, another process
        takes the job over within two intervals.
        """

        async def run_if_held() -> object:
            held = await hold_lease(
                self.database.sessions,
                name=name,
                holder=self.dispatcher.worker,
                now=self.clock.now(),
                ttl=timedelta(seconds=2 * seconds),
            )
            return await tick() if held else None

        return run_if_held

    def ticks(self) -> list[TickJob]:
        """The scheduler's jobs: each an async tick on this runtime's clock, awaited on the loop.

        A tick cut off by a lost database connection is logged in one line and run again.
        """
        on_clock: dict[str, Any] = {"sessions": self.database.sessions, "clock": self.clock}
        to_admins = {**on_clock, "admin_addresses": self.admin_addresses}
        return [
            TickJob(job.job_id, job.seconds, partial(self._reconnecting, job))
            for job in self._tick_jobs(on_clock, to_admins)
        ]

    async def _reconnecting(self, job: TickJob) -> object:
        """Run one tick, again while a lost database connection cuts it off."""
        return await retried_on_lost_connection(
            job.tick, what=f"running the {job.job_id} tick", sleep=self.clock.sleep
        )

    def _tick_jobs(self, on_clock: dict[str, Any], to_admins: dict[str, Any]) -> list[TickJob]:
        """Each tick job as it is."""
        return [
            TickJob("plan", 60, self.plan_and_wake),
            TickJob("dispatch", 5, self.dispatcher.tick),
            TickJob("nudge", 300, partial(nudge_tick, **on_clock)),
            TickJob("sla", 600, self.once_only("sla", 600, partial(sla_tick, **to_admins))),
            TickJob(
                "silence", 3600, self.once_only("silence", 3600, partial(silence_tick, **to_admins))
            ),
            TickJob(
                "digest", 600, self.once_only("digest", 600, partial(coach_digest_tick, **on_clock))
            ),
            TickJob("inbox", 60, self.service.replay),
            TickJob("prune", 3600, self.once_only("prune", 3600, partial(inbox.prune, **on_clock))),
        ]


def build_runtime(
    *,
    database: Database,
    settings: Settings,
    clock: Clock,
    transports: Mapping[str, Transport],
) -> Runtime:
    """Wire the dispatcher and the coaching service; an answer's feedback wakes the dispatcher."""
    admin_addresses = tuple(settings.admin_addresses)
    # The one pacer per platform in this process: every sender on that platform shares it.
    share = settings.send_share
    pacers = {
        name: Pacer.for_transport(transport, clock, share=share)
        for name, transport in transports.items()
    }
    metrics = Metrics()
    dispatcher = Dispatcher(
        worker=settings.worker_id,
        metrics=metrics,
        sessions=database.sessions,
        transports=transports,
        clock=clock,
        admin_addresses=admin_addresses,
        pacers=pacers,
    )
    service = InboundRouter(
        sessions=database.sessions,
        clock=clock,
        admin_addresses=admin_addresses,
        on_outbox=dispatcher.wake,
        transports=transports,
        person_defaults=PersonDefaults(settings.default_timezone, settings.default_send_time),
    )
    if "slack" in transports:
        from bot.transports.slack import SlackTransport

        if isinstance(slack := transports["slack"], SlackTransport):
            slack.home = partial(home_card, sessions=database.sessions, clock=clock)
    if "telegram" in transports:
        from bot.transports.telegram import TelegramTransport

        if isinstance(telegram := transports["telegram"], TelegramTransport):
            telegram.sent_messages = partial(sent_message, sessions=database.sessions)
            telegram.coaches = partial(handles_cases, sessions=database.sessions)
    return Runtime(database, clock, transports, dispatcher, service, admin_addresses, metrics)


@contextmanager
def _stopped_by_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set `stop` while inside (instead of killing the process)."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        yield
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


async def _database_problem(database: Database) -> str | None:
    """None when the database answers a query, else the driver's reason."""
    try:
        async with database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        return error_line(exc)
    return None


def build_web(runtime: Runtime, settings: Settings, scheduler: TickScheduler) -> WebServer:
    """The web server of `run`: each receiving transport's routes and `/healthz` on every part."""
    server = WebServer(host=settings.http_host, port=settings.http_port)
    server.add_health("database", partial(_database_problem, runtime.database))

    async def scheduler_problem() -> str | None:
        return None if scheduler.running else "not running"

    server.add_health("scheduler", scheduler_problem)
    server.add_metrics(
        lambda: runtime.metrics.exposition(runtime.database.sessions, runtime.clock.now())
    )
    for name, transport in runtime.transports.items():
        server.add_health(name, transport.health)
        if isinstance(transport, ServesWeb):
            server.add_routes(transport.web_routes())
    return server


@asynccontextmanager
async def started(
    transports: Mapping[str, Transport], sink: InboundSink | None
) -> AsyncIterator[None]:
    """Every transport started with `sink` (a refused credential is one line), stopped after."""
    try:
        for name, transport in transports.items():
            try:
                await transport.start(sink)
            except TransportDown as exc:
                raise UserError(f"cannot start {name}: {exc}") from None
        yield
    finally:
        for transport in transports.values():
            await transport.stop()


async def _run_until(
    runtime: Runtime, settings: Settings, stop: asyncio.Event, say: Callable[[str], None]
) -> int:
    """Start the web server, the transports, the scheduler and the dispatcher's loop; stop
    them all on `stop`.

    Returns how many claimed messages went back to the queue unsent.
    """
    scheduler = build_scheduler(runtime.ticks())
    web_server = build_web(runtime, settings, scheduler)
    await web_server.start()
    try:
        async with started(runtime.transports, runtime.service.handle):
            await runtime.dispatcher.take_back_own_claims()
            scheduler.start()
            sending = asyncio.create_task(runtime.dispatcher.run())
            say(
                f"servicecoach running on {', '.join(runtime.transports)}; "
                f"health at http://{settings.http_host}:{web_server.port}/healthz; Ctrl+C stops it"
            )
            try:
                await stop.wait()
            finally:
                # The dispatcher stops claiming and puts its unsent rows back while the
                # scheduler waits for the running ticks (the dispatch tick among them).
                put_back, _ = await asyncio.gather(runtime.dispatcher.stop(), scheduler.stop())
                await sending
    finally:
        await web_server.stop()
        await runtime.service.write_counts()  # the last answers' calibration counts
    return put_back


async def serve(
    settings: Settings, *, say: Callable[[str], None], stop: asyncio.Event | None = None
) -> None:
    """Run the bot until SIGINT, SIGTERM or `stop`, then stop cleanly; `say` prints its lines."""
    stop = stop or asyncio.Event()
    with _stopped_by_signals(stop):
        async with open_database(settings, upgrade=True) as database:
            # The console writer flushes: each message shows at once, also through a pipe.
            transports = build_transports(settings)
            runtime = build_runtime(
                database=database, settings=settings, clock=SystemClock(), transports=transports
            )
            put_back = await _run_until(runtime, settings, stop, say)
    say(f"servicecoach stopped ({put_back} unsent message(s) put back in the queue)")
